package engine

// WithoutIndex makes the engine run every rule on every event, for
// benchmarks outside the package to show what the index is worth.
var WithoutIndex = withoutIndex
