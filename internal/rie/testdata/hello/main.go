// Command hello is the baseline of `make bench-lambda`: the smallest Go
// Lambda, built exactly like the functions, whose init duration ours are
// measured against.
package main

import "github.com/aws/aws-lambda-go/lambda"

func main() {
	lambda.Start(func() (string, error) { return "hello", nil })
}
