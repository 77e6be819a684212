package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/strictjson"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Decider is the part of the gate a button press uses (*gate.Gate).
type Decider interface {
	SlackPrincipal(ctx context.Context, slackUserID string) (vsecure.Principal, error)
	Decide(ctx context.Context, c vsecure.Call, id string, r api.Respond) (api.ApprovalView, error)
	RecordSlack(ctx context.Context, c vsecure.Call, approvalID string, err error) error
}

// HandlerConfig holds the interactions handler's dependencies.
type HandlerConfig struct {
	Slack    Config
	Decider  Decider
	Verifier *Verifier
	// Notifier updates the message after a press (chat.update) and shows
	// ephemeral answers when no usable response_url came with the press.
	Notifier *Notifier
	// Hooks calls response_url (only ever on HooksHost); a timeout-bounded
	// default if nil. Tests swap its transport.
	Hooks *http.Client
	// Background runs the Slack API calls that follow a press after the
	// acknowledgement (the local server). When false they run before it,
	// bounded by FollowUpTimeout: a Lambda is frozen once it has answered.
	Background bool
	Log        *slog.Logger
}

// FollowUpTimeout bounds the Slack API calls of one press, so that even
// run before the acknowledgement it stays inside Slack's 3 s.
const FollowUpTimeout = 2 * time.Second

// Handler serves POST /v1/integrations/slack/interactions. Build it once
// and mount it as httpapi.Mounts.Slack.
type Handler struct {
	cfg HandlerConfig
	log *slog.Logger
	wg  sync.WaitGroup
}

// NewHandler validates cfg.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	if cfg.Decider == nil || cfg.Verifier == nil || cfg.Notifier == nil {
		return nil, errors.New("slack: decider, verifier and notifier are required")
	}
	if cfg.Hooks == nil {
		cfg.Hooks = &http.Client{Timeout: FollowUpTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // never follow a hook somewhere else
		}}
	}
	h := &Handler{cfg: cfg, log: cfg.Log}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h, nil
}

// Wait blocks until background follow-ups have finished (shutdown, tests).
func (h *Handler) Wait() { h.wg.Wait() }

// maxBody bounds an interaction payload (Slack's are a few KiB).
const maxBody = 64 << 10

// ServeHTTP verifies, acknowledges and acts on one interaction.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c := vsecure.CallFrom(ctx)
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		h.refuse(ctx, w, c, vsecure.Errorf(vsecure.ETooLarge, "interaction payload too large"))
		return
	}
	if err := h.cfg.Verifier.Verify(ctx, r.Header, body); err != nil {
		if !vsecure.IsCode(err, vsecure.EUnauthenticated) {
			h.log.ErrorContext(ctx, "slack: replay guard unavailable", "requestId", c.RequestID, "err", err)
			h.refuse(ctx, w, c, vsecure.Wrap(vsecure.EUnavailable, err, "try again"))
			return
		}
		h.log.WarnContext(ctx, "slack: refused unsigned request", "requestId", c.RequestID, "reason", errors.Unwrap(err))
		h.refuse(ctx, w, c, err)
		return
	}
	ic, err := parsePayload(r.Header.Get("Content-Type"), body)
	if err != nil {
		h.refuse(ctx, w, c, err)
		return
	}
	c.Metadata = map[string]string{
		"channel":          "slack",
		"slackUserId":      ic.User.ID,
		"slackTeamId":      ic.Team.ID,
		"slackPayloadType": string(ic.Type),
	}
	act := ourAction(ic)
	if ic.Type != slack.InteractionTypeBlockActions || act == nil {
		// Not a press of ours (a shortcut, a modal, another app's
		// element): acknowledge and keep a record.
		if err := h.cfg.Decider.RecordSlack(ctx, c, "", nil); err != nil {
			h.log.ErrorContext(ctx, "slack: audit failed", "requestId", c.RequestID, "err", err)
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	id := act.Value
	c.Metadata["slackActionId"] = act.ActionID
	p := press{ic: ic, channel: ic.Container.ChannelID, ts: ic.Container.MessageTs, user: ic.User.ID}
	if p.channel == "" {
		p.channel = ic.Channel.ID
	}
	if h.cfg.Slack.TeamID != "" && ic.Team.ID != h.cfg.Slack.TeamID {
		err := vsecure.Errorf(vsecure.EForbidden, "presses from this Slack workspace are not accepted")
		h.answer(ctx, w, c, p, h.cfg.Decider.RecordSlack(ctx, c, id, err), nil)
		return
	}
	principal, err := h.cfg.Decider.SlackPrincipal(ctx, ic.User.ID)
	if err != nil {
		h.answer(ctx, w, c, p, h.cfg.Decider.RecordSlack(ctx, c, id, err), nil)
		return
	}
	c.Principal = principal
	action := string(vsecure.ActionApprove)
	if act.ActionID == ActionDeny {
		action = string(vsecure.ActionDeny)
	}
	v, err := h.cfg.Decider.Decide(ctx, c, id, api.Respond{Action: action})
	h.answer(ctx, w, c, p, err, &v)
}

// press is what the follow-ups of one press need.
type press struct {
	ic                slack.InteractionCallback
	channel, ts, user string
}

// answer acknowledges the press, then updates the message (success) or
// tells the presser why nothing happened (ephemeral).
func (h *Handler) answer(ctx context.Context, w http.ResponseWriter, c vsecure.Call, p press, err error, v *api.ApprovalView) {
	follow := func(ctx context.Context) {
		if err != nil {
			h.tell(ctx, c, p, refusalText(err))
			return
		}
		card := cardOfView(*v)
		card.Via = mention(p.user)
		if p.channel == "" || p.ts == "" {
			return
		}
		if uerr := h.cfg.Notifier.update(ctx, p.channel, p.ts, card); uerr != nil {
			h.log.WarnContext(ctx, "slack: updating the message failed", "requestId", c.RequestID, "approvalId", v.ID, "err", uerr)
		}
	}
	if h.cfg.Background {
		w.WriteHeader(http.StatusOK)
		h.wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), FollowUpTimeout)
			defer cancel()
			follow(ctx)
		})
		return
	}
	fctx, cancel := context.WithTimeout(ctx, FollowUpTimeout)
	follow(fctx)
	cancel()
	w.WriteHeader(http.StatusOK)
}

// tell shows text to the presser only: through the press's response_url
// when it is Slack's own hooks host, else with chat.postEphemeral through
// the configured API. A response_url anywhere else is never called: the
// payload is signed, but what Slack signs is what a user's client sent.
func (h *Handler) tell(ctx context.Context, c vsecure.Call, p press, text string) {
	if u, ok := hookURL(p.ic.ResponseURL); ok {
		b, _ := json.Marshal(map[string]any{"response_type": "ephemeral", "replace_original": false, "text": text})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(b))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			var resp *http.Response
			if resp, err = h.cfg.Hooks.Do(req); err == nil {
				io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
				err = errors.New(resp.Status)
			}
		}
		h.log.WarnContext(ctx, "slack: response_url failed; trying chat.postEphemeral", "requestId", c.RequestID, "err", err)
	} else if p.ic.ResponseURL != "" {
		h.log.WarnContext(ctx, "slack: ignored a response_url outside Slack's hooks host", "requestId", c.RequestID, "host", hostOf(p.ic.ResponseURL))
	}
	if err := h.cfg.Notifier.ephemeral(ctx, p.channel, p.user, text); err != nil {
		h.log.WarnContext(ctx, "slack: ephemeral answer failed", "requestId", c.RequestID, "err", err)
	}
}

// hookURL accepts exactly https://hooks.slack.com/… with no credentials or
// port tricks.
func hookURL(raw string) (*url.URL, bool) {
	if raw == "" || len(raw) > 2048 {
		return nil, false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Host != HooksHost || u.Opaque != "" {
		return nil, false
	}
	return u, true
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Host
}

// refusalText is the ephemeral answer for a press that changed nothing.
func refusalText(err error) string {
	switch vsecure.ErrorCode(err) {
	case vsecure.EUnauthenticated:
		return "You are not set up as a vsecure approver: ask an admin to map your Slack user (vsecure keys:slack)."
	case vsecure.ENotApprover:
		return "You are not an approver of this request."
	case vsecure.ESelfApproval:
		return "You cannot decide your own request."
	case vsecure.EExpired:
		return "This request has expired."
	case vsecure.EAlreadyDecided:
		return "This request was already decided."
	case vsecure.ENotFound:
		return "This request no longer exists."
	case vsecure.EForbidden:
		return "You are not allowed to decide approvals from Slack."
	case vsecure.ERateLimited:
		return "Too many requests; try again shortly."
	case vsecure.EStepUpRequired:
		var de *vsecure.Error
		if errors.As(err, &de) && de.Detail["approvalUrl"] != "" {
			return "This request needs a passkey step-up, which Slack cannot take: review and decide it in the vsecure console at " + escape(de.Detail["approvalUrl"])
		}
		return "This request needs a passkey step-up, which Slack cannot take: review and decide it in the vsecure console."
	}
	return "vsecure could not record your decision; nothing changed. Try again or use the API."
}

// parsePayload reads the one "payload" form field Slack sends.
func parsePayload(contentType string, body []byte) (slack.InteractionCallback, error) {
	var ic slack.InteractionCallback
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return ic, vsecure.Errorf(vsecure.EInvalid, "an interaction is a form with a payload field")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || len(form["payload"]) != 1 {
		return ic, vsecure.Errorf(vsecure.EInvalid, "an interaction is a form with one payload field")
	}
	// Open: Slack adds fields over time; duplicate or miscased keys are
	// still refused, so no two readers of the payload see different presses.
	if err := strictjson.UnmarshalOpen([]byte(form["payload"][0]), &ic); err != nil {
		var ke *strictjson.Error
		if errors.As(err, &ke) {
			return ic, vsecure.Errorf(vsecure.EInvalid, "the interaction payload is refused: %s", ke.Error())
		}
		return ic, vsecure.Errorf(vsecure.EInvalid, "the interaction payload is not valid JSON")
	}
	return ic, nil
}

// ourAction finds the press of one of our buttons, if any.
func ourAction(ic slack.InteractionCallback) *slack.BlockAction {
	for _, a := range ic.ActionCallback.BlockActions {
		if a != nil && (a.ActionID == ActionApprove || a.ActionID == ActionDeny) && a.Value != "" {
			return a
		}
	}
	return nil
}

// refuse answers a request that did not get as far as a press, audited as
// a slack_interaction refusal (actor anonymous).
func (h *Handler) refuse(ctx context.Context, w http.ResponseWriter, c vsecure.Call, err error) {
	c.Metadata = maps.Clone(c.Metadata)
	if aerr := h.cfg.Decider.RecordSlack(ctx, c, "", err); vsecure.IsCode(aerr, vsecure.EAuditUnavailable) {
		err = aerr
	}
	code := vsecure.ErrorCode(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(api.StatusOf(code))
	_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.ErrorDetail{Code: code, Message: publicMessage(err), RequestID: c.RequestID}})
}

// publicMessage is the domain message without the wrapped cause.
func publicMessage(err error) string {
	var de *vsecure.Error
	if errors.As(err, &de) {
		return de.Message
	}
	return "internal error"
}
