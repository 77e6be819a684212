package httpapi

import (
	"slices"
	"testing"
)

// TestRouteFactsAgree: the facts of the route table are consistent, so a
// new entry cannot claim what its handler or its function cannot give.
func TestRouteFactsAgree(t *testing.T) {
	judges := map[string]bool{}
	mount := map[string]Mount{}
	for _, rt := range Routes() {
		if (rt.Mount == NotMounted) == (rt.handle == nil) {
			t.Errorf("%s: a route is served by its handler or by a mount, exactly one (mount %s)", rt.Pattern(), rt.Mount)
		}
		if len(rt.OneTime) > 0 && !rt.Idempotent {
			t.Errorf("%s: one-time fields %v only matter to an idempotent route", rt.Pattern(), rt.OneTime)
		}
		if (rt.Idempotent || rt.JudgesKey) && rt.Auth != AuthKey {
			t.Errorf("%s: idempotency and key judging need an authenticated caller", rt.Pattern())
		}
		// A Lambda serves every route of its function with one handler
		// and one authorizer reading, so these are facts of the function.
		if j, ok := judges[rt.Function]; ok && j != rt.JudgesKey {
			t.Errorf("%s: routes of %s disagree on JudgesKey", rt.Pattern(), rt.Function)
		}
		if m, ok := mount[rt.Function]; ok && m != rt.Mount {
			t.Errorf("%s: routes of %s disagree on their mount", rt.Pattern(), rt.Function)
		}
		judges[rt.Function], mount[rt.Function] = rt.JudgesKey, rt.Mount
	}
	if got := RoutesOf("resources-put"); len(got) != 1 || !got[0].Idempotent || !got[0].JudgesKey {
		t.Errorf("RoutesOf(resources-put) = %+v", got)
	}
	var mounts []Mount
	for _, rt := range Routes() {
		if rt.Mount != NotMounted && !slices.Contains(mounts, rt.Mount) {
			mounts = append(mounts, rt.Mount)
		}
	}
	// Every field of Mounts serves a route, and every mount names a field.
	if len(mounts) != 3 || (Mounts{MCP: Disabled}).handler(MountMCP) != Disabled || (Mounts{Slack: Disabled}).handler(MountSlack) != Disabled ||
		(Mounts{Console: Disabled}).handler(MountConsole) != Disabled {
		t.Errorf("mounts in the table %v, want Mounts.MCP, Mounts.Slack and Mounts.Console", mounts)
	}
	// The console checks its own session: a page on another mount, or an
	// AuthSession route the console does not serve, would be unguarded.
	for _, rt := range Routes() {
		page := rt.Mount == MountConsole && rt.Function != "console-static" && rt.Function != "console-signin"
		if (rt.Auth == AuthSession) != page {
			t.Errorf("%s: every console page and nothing else is AuthSession on Mounts.Console: %+v", rt.Pattern(), rt)
		}
		if (rt.Auth == AuthSignIn) != (rt.Mount == MountConsole && rt.Function == "console-signin") {
			t.Errorf("%s: the sign-in steps and nothing else are AuthSignIn: %+v", rt.Pattern(), rt)
		}
	}
}
