package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
)

// The device authorization grant (RFC 8628) of `tokenwright login
// --no-browser`: the example OP serves it (/device_authorization and the
// /device pages), but its web clients may not use it, and its device page
// records the username where the storage expects a user id. -no-device
// removes the endpoint from discovery (a provider without the grant).

// idsByUsername reads the users file's usernames.
func idsByUsername(usersFile string) (map[string]string, error) {
	data, err := os.ReadFile(usersFile)
	if err != nil {
		return nil, err
	}
	var users map[string]struct{ ID, Username string }
	if err := json.Unmarshal(data, &users); err != nil {
		return nil, err
	}
	ids := map[string]string{}
	for _, u := range users {
		ids[u.Username] = u.ID
	}
	return ids, nil
}

// CompleteDeviceAuthorization records the user id as the subject: the
// example's device login page passes the username, which the rest of the
// example storage does not take for a user id.
func (s *claimStorage) CompleteDeviceAuthorization(ctx context.Context, userCode, username string) error {
	id, ok := s.ids[username]
	if !ok {
		return fmt.Errorf("no user %q", username)
	}
	return s.Storage.CompleteDeviceAuthorization(ctx, userCode, id)
}
