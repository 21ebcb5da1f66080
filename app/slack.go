package app

import (
	"context"
	"fmt"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/httpapi"
	"github.com/alerter/alerter/notifiers/slack"
)

// slackApps are the slack notifiers of cfg with a signing secret: the
// Slack apps whose buttons POST /slack/interactions takes
// (docs/notifications.md, Slack buttons); with any, the bucket of signed
// requests taken, shared with the signed webhooks.
func (s *App) slackApps(ctx context.Context, cfg *config.Config) ([]httpapi.SlackApp, httpapi.SignedRequests, error) {
	var out []httpapi.SlackApp
	for _, nc := range cfg.Notifiers {
		if c, ok := nc.Settings.(slack.Config); nc.Type != slack.Type || !ok || c.SigningSecret == "" {
			continue
		}
		app, err := slack.NewApp(nc, slack.Options{ExternalURL: cfg.Server.ExternalURL, Logger: s.log})
		if err != nil {
			return nil, nil, fmt.Errorf("notifier %s: %w", nc.Name, err)
		}
		out = append(out, app)
	}
	if len(out) == 0 {
		return nil, nil, nil
	}
	replays, err := s.openReplays(ctx, cfg.NATS)
	if err != nil {
		return nil, nil, err
	}
	return out, replays, nil
}
