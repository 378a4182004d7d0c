//go:build race

package main

// raceBuild: this test binary was built with -race, so the proxy it
// builds is too, sharing the compiled packages of the same "go test" run.
const raceBuild = true
