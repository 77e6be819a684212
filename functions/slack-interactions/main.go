// Command slack-interactions is the Lambda function serving Slack's
// interactivity webhook (POST /v1/integrations/slack/interactions): no API
// key, Slack's request signature instead (package slack, wired by slackfn).
package main

import (
	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/lambdafn/slackfn"
)

func main() { lambdafn.ServeWith("slack-interactions", slackfn.Install) }
