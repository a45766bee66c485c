package web_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/servertest"
)

func federationRulesAPI(t *testing.T, srv *servertest.Server, account string) []api.FederationRule {
	t.Helper()
	var rules api.List[api.FederationRule]
	if code := srv.Do(t, srv.AdminToken, http.MethodGet, "/api/v1/service-accounts/"+account+"/federation", nil, &rules); code != http.StatusOK {
		t.Fatalf("listing federation rules: HTTP %d", code)
	}
	return rules.Items
}

// TestConsoleFederationRulesInBrowser: the account page's Federation
// section adds a rule (claims one per line, a repeated key any of its
// values; the audience left to the server's default), shows the server's
// refusal of a condition that does not compile in the dialog, shows what
// a rule matches as text (never markup), and deletes a rule after asking.
func TestConsoleFederationRulesInBrowser(t *testing.T) {
	b := newBrowser(t)
	srv := servertest.Start(t, servertest.Options{})
	srv.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com"})
	const evil = `<img src=x onerror="document.body.dataset.xss='1'">`
	if code := srv.Do(t, srv.AdminToken, http.MethodPost, "/api/v1/service-accounts/ci-bot/federation", api.CreateFederationRule{
		Name: "k8s", Issuer: "https://oidc.cluster.example.com", Subject: evil, AllowMissingJTI: true, MaxTokenAge: 3600}, nil); code != http.StatusCreated {
		t.Fatalf("creating a rule: HTTP %d", code)
	}
	ctx := b.tab()
	signIn(t, ctx, srv, srv.AdminToken)
	do(t, ctx, "account page",
		chromedp.Navigate(srv.URL+"/ui/#/accounts/ci-bot"),
		chromedp.WaitVisible(chromedp.ID("federation-title")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-rule="k8s"]`)),
	)
	if got := run(t, ctx, "subject as text", chromedp.Text(chromedp.CSS(`tr[data-rule="k8s"] td[data-label="Matches"] code`))); got != evil {
		t.Errorf("the subject shows as %q, want the literal text", got)
	}
	if n := run(t, ctx, "no injected image", chromedp.Evaluate[int](`document.querySelectorAll('#federation img').length`)); n != 0 {
		t.Errorf("the subject became %d img elements", n)
	}

	// A condition that does not compile: the server's message, in the dialog.
	do(t, ctx, "new rule with a bad condition",
		chromedp.Click(chromedp.ID("new-rule")),
		chromedp.WaitVisible(chromedp.ID("create-rule")),
		chromedp.SendKeys(chromedp.ID("create-rule-name"), "deploy"),
		chromedp.SendKeys(chromedp.ID("create-rule-issuer"), "https://token.actions.githubusercontent.com"),
		chromedp.SetValue(chromedp.ID("create-rule-claims"), "repository_id=123456789\nref=refs/heads/main\nref=refs/heads/release"),
		chromedp.SetValue(chromedp.ID("create-rule-condition"), `claims.repository ==`),
		chromedp.Click(chromedp.CSS(`#create-rule button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#create-rule .error`)),
	)
	if msg := run(t, ctx, "error", chromedp.Text(chromedp.CSS(`#create-rule .error`))); !strings.Contains(msg, "condition") {
		t.Errorf("the refusal says %q, want it to name the condition", msg)
	}
	b.screenshot(ctx, "federation-refused")
	do(t, ctx, "fix the condition and add",
		chromedp.SetValue(chromedp.ID("create-rule-condition"), `claims.repository == "acme/deploy"`),
		chromedp.SetValue(chromedp.ID("create-rule-maxTokenAge"), "600"),
		chromedp.Click(chromedp.CSS(`#create-rule button[type="submit"]`)),
		chromedp.WaitNotPresent(chromedp.ID("create-rule")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-rule="deploy"]`)),
	)
	b.screenshot(ctx, "federation")
	rules := federationRulesAPI(t, srv, "ci-bot")
	i := slices.IndexFunc(rules, func(r api.FederationRule) bool { return r.Name == "deploy" })
	if i < 0 {
		t.Fatalf("the rule is not stored: %+v", rules)
	}
	r := rules[i]
	if r.Audience != srv.URL || strings.Join(r.Claims["ref"], ",") != "refs/heads/main,refs/heads/release" ||
		strings.Join(r.Claims["repository_id"], ",") != "123456789" || r.Condition != `claims.repository == "acme/deploy"` || r.MaxTokenAge != 600 {
		t.Fatalf("stored rule %+v", r)
	}

	// Delete asks; Cancel keeps the rule, confirming removes it.
	menu := chromedp.CSS(`tr[data-rule="deploy"] .menu-button`)
	item := chromedp.Search(`//tr[@data-rule="deploy"]//button[@role="menuitem"][normalize-space()="Delete"]`)
	do(t, ctx, "delete, then cancel",
		chromedp.Click(menu), chromedp.Click(item),
		chromedp.WaitVisible(chromedp.ID("confirm-dialog")),
		chromedp.Click(chromedp.CSS(`#confirm-dialog button[value="cancel"]`)),
		chromedp.WaitNotPresent(chromedp.ID("confirm-dialog")),
	)
	if n := len(federationRulesAPI(t, srv, "ci-bot")); n != 2 {
		t.Fatalf("after Cancel %d rules, want 2", n)
	}
	do(t, ctx, "delete, then confirm",
		chromedp.Click(menu), chromedp.Click(item),
		chromedp.Click(chromedp.CSS(`#confirm-dialog button[value="ok"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`tr[data-rule="deploy"]`)),
	)
	if rules := federationRulesAPI(t, srv, "ci-bot"); len(rules) != 1 || rules[0].Name != "k8s" {
		t.Fatalf("after Delete: %+v", rules)
	}
	b.checkConsole()
}
