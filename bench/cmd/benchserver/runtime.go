package main

import "runtime/metrics"

// runtimeNames are the runtime/metrics samples /runtime reports, by the
// short name it reports them under.
var runtimeNames = map[string]string{
	"gc_cpu_s":       "/cpu/classes/gc/total:cpu-seconds",
	"scavenge_cpu_s": "/cpu/classes/scavenge/total:cpu-seconds",
	"user_cpu_s":     "/cpu/classes/user:cpu-seconds",
	"idle_cpu_s":     "/cpu/classes/idle:cpu-seconds",
	"total_cpu_s":    "/cpu/classes/total:cpu-seconds",
	"gc_cycles":      "/gc/cycles/total:gc-cycles",
	"alloc_bytes":    "/gc/heap/allocs:bytes",
	"alloc_objects":  "/gc/heap/allocs:objects",
	"heap_live":      "/gc/heap/live:bytes",
	"heap_goal":      "/gc/heap/goal:bytes",
}

// runtimeMetrics reads runtimeNames now.
func runtimeMetrics() map[string]float64 {
	samples := make([]metrics.Sample, 0, len(runtimeNames))
	short := make([]string, 0, len(runtimeNames))
	for k, name := range runtimeNames {
		samples = append(samples, metrics.Sample{Name: name})
		short = append(short, k)
	}
	metrics.Read(samples)
	out := make(map[string]float64, len(samples))
	for i, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindFloat64:
			out[short[i]] = s.Value.Float64()
		case metrics.KindUint64:
			out[short[i]] = float64(s.Value.Uint64())
		}
	}
	return out
}
