// Package phone parses, checks and masks phone numbers for the text and
// call methods.
package phone

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/stepgate/stepgate/messages"
)

// Number is a valid phone number in E.164 form, with its country calling
// code.
type Number struct {
	E164        string // "+15555550142"
	CallingCode string // "1"
}

// ErrInvalid is returned for input that is not a valid international number.
// Its text is for logs; Invalid says it to the user.
var ErrInvalid = errors.New("enter your number in international form, starting with + and your country code, e.g. +1 555 555 0142")

// Invalid tells the user, in l's language, that what they typed is not a
// phone number (ErrInvalid) and how to type one.
func Invalid(l *messages.Localizer) string { return l.T("phone.number.invalid") }

// Parse reads a number typed by a user: it must start with + and a country
// code; spaces, dashes, dots and brackets are ignored.
func Parse(input string) (Number, error) {
	input = strings.TrimSpace(input)
	if len(input) > 32 || !strings.HasPrefix(input, "+") {
		return Number{}, ErrInvalid
	}
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9', r == '+':
			return r
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
			return -1
		}
		return 'x' // anything else makes the number invalid
	}, input)
	if strings.ContainsRune(clean, 'x') || strings.Count(clean, "+") != 1 {
		return Number{}, ErrInvalid
	}
	n, err := phonenumbers.Parse(clean, "")
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return Number{}, ErrInvalid
	}
	return Number{
		E164:        phonenumbers.Format(n, phonenumbers.E164),
		CallingCode: strconv.Itoa(int(n.GetCountryCode())),
	}, nil
}

// Countries is an allow-list of country calling codes ("1", "44", …).
type Countries []string

// ParseCountries reads codes written as +1, +44 (the + is optional).
func ParseCountries(codes []string) (Countries, error) {
	var out Countries
	for _, c := range codes {
		d := strings.TrimPrefix(c, "+")
		if n, err := strconv.Atoi(d); err != nil || n < 1 || n > 999 || strconv.Itoa(n) != d {
			return nil, fmt.Errorf("country calling code %q: want + and 1 to 3 digits, e.g. +44", c)
		}
		out = append(out, d)
	}
	return out, nil
}

// Allows reports whether n's country is on the list.
func (c Countries) Allows(n Number) bool { return slices.Contains(c, n.CallingCode) }

// String lists the codes as +1, +44.
func (c Countries) String() string {
	s := make([]string, len(c))
	for i, code := range c {
		s[i] = "+" + code
	}
	return strings.Join(s, ", ")
}

// Mask shows a stored E.164 number the way sign-in pages do: the country
// code and the last two digits, "+1 ••• ••• ••42"; a number that can't be
// shown so is "your phone", in English (see MaskIn).
func Mask(e164 string) string { return MaskIn(messages.English(), e164) }

// MaskIn is Mask with a number that can't be shown named in l's language.
func MaskIn(l *messages.Localizer, e164 string) string {
	n, err := Parse(e164)
	if err != nil || len(n.E164) < 4 {
		return l.T("phone.number.unknown")
	}
	return "+" + n.CallingCode + " ••• ••• ••" + n.E164[len(n.E164)-2:]
}

// CallingCode returns the country calling code of an E.164 number without
// judging whether the rest is a valid subscriber number (a sender's own
// number, which may be a test or short-range number).
func CallingCode(e164 string) (string, error) {
	if !strings.HasPrefix(e164, "+") {
		return "", ErrInvalid
	}
	n, err := phonenumbers.Parse(e164, "")
	if err != nil || phonenumbers.GetRegionCodeForCountryCode(int(n.GetCountryCode())) == "ZZ" {
		return "", ErrInvalid
	}
	return strconv.Itoa(int(n.GetCountryCode())), nil
}
