package slack

// Methods maps every Slack Web API method this package calls to the bot
// token scope Slack requires for it. It is the one place the app's
// permissions are decided: the Slack app manifest
// (infra/slack-app-manifest.json) is tested to grant exactly these scopes
// (not chat:write.public: the bot posts only to channels it was invited
// to), and the tests' fake Web API refuses any method missing here, so a
// new call cannot ship without its scope.
var Methods = map[string]string{
	"chat.postMessage":   "chat:write", // the approval request
	"chat.update":        "chat:write", // its outcome, buttons removed
	"chat.postEphemeral": "chat:write", // a refused press, shown to the presser only
}
