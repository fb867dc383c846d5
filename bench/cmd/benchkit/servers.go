package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// page is what the upstream app answers: about 200 bytes, like a small
// JSON API response.
var page = []byte(`{"app":"bench upstream","status":"ok","items":[` +
	`{"id":1,"name":"alpha"},{"id":2,"name":"beta"},{"id":3,"name":"gamma"},` +
	`{"id":4,"name":"delta"},{"id":5,"name":"epsilon"}],"note":"fixed-size body"}` + "\n")

func upstream(args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9101", "listen address")
	fs.Parse(args)
	return serve(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		w.Write(page)
	}))
}

func serve(addr string, h http.Handler) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

// The forward-auth service is as small as such a service can be: one
// HMAC-SHA256 over "user|expiry" in a cookie, no session store, no
// write-back. Whatever it costs is the round trip forward_auth pays.
const fwdCookie = "bench"

func sign(key []byte, payload string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func checkCookie(key []byte, value string, now time.Time) (string, error) {
	p, s, ok := strings.Cut(value, ".")
	if !ok {
		return "", errors.New("malformed")
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return "", err
	}
	sum, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	if !hmac.Equal(sum, m.Sum(nil)) {
		return "", errors.New("bad signature")
	}
	user, exp, ok := strings.Cut(string(payload), "|")
	if !ok {
		return "", errors.New("malformed payload")
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || now.Unix() > e {
		return "", errors.New("expired")
	}
	return user, nil
}

func fwdauth(args []string) error {
	fs := flag.NewFlagSet("fwdauth", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9102", "listen address")
	key := fs.String("key", "", "HMAC key")
	fs.Parse(args)
	if *key == "" {
		return errors.New("-key is required")
	}
	k := []byte(*key)
	return serve(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(fwdCookie)
		if err == nil {
			if user, err := checkCookie(k, c.Value, time.Now()); err == nil {
				w.Header().Set("Remote-User", user)
				w.WriteHeader(http.StatusOK)
				return
			}
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
}

func fwdcookie(args []string) error {
	fs := flag.NewFlagSet("fwdcookie", flag.ExitOnError)
	key := fs.String("key", "", "HMAC key")
	fs.Parse(args)
	if *key == "" {
		return errors.New("-key is required")
	}
	fmt.Println(fwdCookie + "=" + sign([]byte(*key), "alice|"+strconv.FormatInt(time.Now().Add(24*time.Hour).Unix(), 10)))
	return nil
}

func bcryptHash(args []string) error {
	fs := flag.NewFlagSet("bcrypt", flag.ExitOnError)
	pw := fs.String("password", "", "password")
	fs.Parse(args)
	h, err := bcrypt.GenerateFromPassword([]byte(*pw), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	fmt.Println(string(h))
	return nil
}
