package console

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/vsecure/vsecure/shared/passkey/ceremony"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// The passkey ceremonies answer the page's script in JSON; the script
// sends the session's CSRF token in a header (csrfOK).

type begun struct {
	CeremonyID string          `json:"ceremonyId"`
	Options    json.RawMessage `json:"options"`
}

func (c *Console) passkeysPage(w http.ResponseWriter, r *http.Request, s *Session) {
	c.render(w, r, http.StatusOK, "passkeys", page{Title: "Passkeys", Session: s, Data: map[string]any{
		"On": c.cfg.Passkeys != nil, "Human": s.Human,
	}})
}

func (c *Console) service() (Passkeys, error) {
	if c.cfg.Passkeys == nil {
		return nil, vsecure.Errorf(vsecure.ENotFound, "passkeys are not configured on this server")
	}
	return c.cfg.Passkeys, nil
}

func (c *Console) begin(w http.ResponseWriter, r *http.Request, s *Session, start func(Passkeys) (ceremony.Begun, error)) {
	svc, err := c.service()
	if err == nil {
		var b ceremony.Begun
		if b, err = start(svc); err == nil {
			writeJSON(w, begun{CeremonyID: b.CeremonyID, Options: b.Options})
			return
		}
	}
	c.fail(w, r, s, err)
}

func (c *Console) registerBegin(w http.ResponseWriter, r *http.Request, s *Session) {
	c.begin(w, r, s, func(svc Passkeys) (ceremony.Begun, error) {
		return svc.BeginRegistration(r.Context(), c.call(r, s))
	})
}

func (c *Console) stepUpBegin(w http.ResponseWriter, r *http.Request, s *Session) {
	c.begin(w, r, s, func(svc Passkeys) (ceremony.Begun, error) {
		return svc.BeginAssertion(r.Context(), c.call(r, s))
	})
}

func (c *Console) registerFinish(w http.ResponseWriter, r *http.Request, s *Session) {
	svc, err := c.service()
	var body []byte
	if err == nil {
		body, err = readBody(r)
	}
	var pk vsecure.Passkey
	if err == nil {
		pk, err = svc.FinishRegistration(r.Context(), c.call(r, s), r.URL.Query().Get("ceremony"), r.URL.Query().Get("name"), body)
	}
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	writeJSON(w, map[string]string{"passkeyId": pk.ID})
}

// stepUpFinish keeps a verified assertion in the session; the gate judges
// its freshness on each decision (vsecure.StepUpMaxAge).
func (c *Console) stepUpFinish(w http.ResponseWriter, r *http.Request, s *Session) {
	svc, err := c.service()
	var body []byte
	if err == nil {
		body, err = readBody(r)
	}
	var su vsecure.StepUp
	if err == nil {
		su, err = svc.FinishAssertion(r.Context(), c.call(r, s), r.URL.Query().Get("ceremony"), body)
	}
	if err == nil {
		s.StepUp = &su
		err = c.setSession(r.Context(), w, *s)
	}
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	writeJSON(w, map[string]string{"stepUp": su.Method})
}

func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, ceremony.MaxResponse+1))
	if err != nil || len(b) > ceremony.MaxResponse {
		return nil, vsecure.Errorf(vsecure.EInvalid, "the authenticator's response is missing or too large")
	}
	return b, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
