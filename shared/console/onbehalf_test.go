package console_test

import (
	"testing"

	"github.com/vsecure/vsecure/internal/browser"
	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/client"
	"github.com/vsecure/vsecure/shared/devserver/devtest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestAgentForApproverInTheConsole: a request by an agent acting for
// alice reads "helper-bot for alice" on bob's inbox and on the approval
// page; alice is offered no buttons, and a post of the form with her own
// CSRF token is refused by the gate as self-approval.
func TestAgentForApproverInTheConsole(t *testing.T) {
	e := devtest.Start(t)
	ctx := t.Context()
	if _, err := e.Admin.Configure(ctx, api.ResourceConfig{URI: "vsecure://secrets/production/*",
		Permissions: []vsecure.Operation{vsecure.OpRead}, RequiresApproval: true, Approvers: []string{"alice", "bob"}}); err != nil {
		t.Fatal(err)
	}
	k, err := e.Admin.CreateKey(ctx, api.KeyRequest{Principal: "helper-bot", Roles: []string{"agent"}, OnBehalfOf: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	bot, err := client.New(client.Config{BaseURL: e.URL, Key: k.Secret})
	if err != nil {
		t.Fatal(err)
	}
	v, err := bot.RequestApproval(ctx, api.ApprovalRequest{Resource: devtest.ProductionURI, Operation: "read", Reason: "migrate"})
	if err != nil {
		t.Fatal(err)
	}
	b := browser.Start(t)
	b.Navigate(e.URL + "/console")
	devSignIn(b, "bob", vsecure.RoleApprover)
	b.WaitText("#pending", "helper-bot for alice")
	b.Navigate(v.ApprovalURL)
	b.WaitText("#requester", "helper-bot for alice")
	b.WaitText("#history", "requested by helper-bot for alice")
	b.Click(".signout button")

	devSignIn(b, "alice", vsecure.RoleApprover)
	b.WaitText("#pending-none", "Nothing is waiting for you")
	b.WaitText("#mine", "helper-bot for alice")
	b.Navigate(v.ApprovalURL)
	b.WaitText("#requester", "helper-bot for alice")
	if n := browser.Eval[int](b, `document.querySelectorAll("#approve, #deny").length`); n != 0 {
		t.Fatalf("the human an agent acts for is offered %d decision buttons", n)
	}
	csrf := browser.Eval[string](b, `document.querySelector(".signout input[name=csrf]").value`)
	post(b, "/console/approvals/"+v.ID+"/decide", map[string]string{"csrf": csrf, "action": "approve"})
	b.WaitText("#code", string(vsecure.ESelfApproval))
	got, err := e.Admin.GetApproval(ctx, v.ID)
	if err != nil || got.Status != vsecure.StatusPending || got.Approvals != 0 {
		t.Fatalf("after alice's post: %+v, %v", got, err)
	}
	// What she may do is withdraw it.
	b.Navigate(v.ApprovalURL)
	b.Click("#cancel")
	b.WaitText("#status", "cancelled")
	b.WaitText("#history", "cancelled by alice")
	if got, err := e.Admin.GetApproval(ctx, v.ID); err != nil || got.Status != vsecure.StatusCancelled || got.CancelledBy != "alice" {
		t.Fatalf("after alice's cancel: %+v, %v", got, err)
	}
}
