package main

import (
	"context"
	"errors"
)

// postgres measures PostgreSQL's bytes per session, user operations and
// reaper. Not measured yet.
func (res *growthResults) postgres(ctx context.Context, o options, userSizes []int) error {
	return errors.New("not measured by this version of the harness")
}
