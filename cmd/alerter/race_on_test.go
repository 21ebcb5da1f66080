//go:build race

package main

// raceEnabled: the race detector multiplies memory and time, so bounds on
// them do not hold in such a build.
const raceEnabled = true
