package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Outbox "sends" texts by writing them to the log and appending them to a
// file, one JSON object per line. It is for trying Stepgate out and for
// tests, never for real users: anyone who can read the log can sign in.
type Outbox struct {
	Path string // "" = log only
	Log  *zap.Logger

	mu sync.Mutex
}

// OutboxMessage is one line of the outbox file.
type OutboxMessage struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	To     string    `json:"to"`
	Body   string    `json:"body"`
}

// Send implements Sender.
func (o *Outbox) Send(ctx context.Context, to, body string) error {
	return o.Record(ctx, Method, to, body)
}

// Record logs one message of any method (a call's TwiML, say) and appends
// it to the file.
func (o *Outbox) Record(ctx context.Context, method, to, body string) error {
	o.Log.Warn("outbox (development only): "+method, zap.String("to", to), zap.String("body", body))
	return o.append(OutboxMessage{Time: time.Now().UTC(), Method: method, To: to, Body: body})
}

func (o *Outbox) append(m OutboxMessage) error {
	if o.Path == "" {
		return nil
	}
	line, err := json.Marshal(m)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o700); err != nil {
		return sendError("sms.send.outbox_failed", fmt.Errorf("outbox: %w", err))
	}
	f, err := os.OpenFile(o.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return sendError("sms.send.outbox_failed", fmt.Errorf("outbox: %w", err))
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		return sendError("sms.send.outbox_failed", fmt.Errorf("outbox: %w", err))
	}
	return nil
}
