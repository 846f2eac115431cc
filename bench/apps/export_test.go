package apps

import (
	"context"
	"net/http"
)

// ContextFloor and FloorValue let the tests see NoneContext's middleware.
func ContextFloor(next http.Handler) http.Handler { return contextFloor(next) }

func FloorValue(ctx context.Context) any { return ctx.Value(floorKey{}) }
