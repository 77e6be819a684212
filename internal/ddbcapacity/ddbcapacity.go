// Package ddbcapacity lets a measurement see what DynamoDB consumed
// without the store knowing it is measured: a client option asks every
// call for its consumed capacity (table and indexes) and hands each
// answer's to a function. The cost tests and cmd/vsecure-auditbench
// install it on the client they give the store; production clients never
// ask, so they pay no response bytes for it.
package ddbcapacity

import (
	"context"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
)

// Ask is a client option under which every call that can report consumed
// capacity asks for it (INDEXES), for a caller that reads it from the
// answers itself.
func Ask(o *dynamodb.Options) { Record(nil)(o) }

// Record is Ask, and fn (if not nil) receives the API operation's name
// (GetItem, Query, TransactWriteItems, ...) and what each successful
// answer consumed. fn is called from the calling goroutine.
func Record(fn func(op string, cc []types.ConsumedCapacity)) func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("ddbcapacity",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					ask(in.Parameters)
					out, md, err := next.HandleInitialize(ctx, in)
					if err == nil && fn != nil {
						if cc := consumed(out.Result); len(cc) > 0 {
							fn(awsmiddleware.GetOperationName(ctx), cc)
						}
					}
					return out, md, err
				}), middleware.After)
		})
	}
}

const indexes = types.ReturnConsumedCapacityIndexes

func ask(in any) {
	switch v := in.(type) {
	case *dynamodb.GetItemInput:
		v.ReturnConsumedCapacity = indexes
	case *dynamodb.BatchGetItemInput:
		v.ReturnConsumedCapacity = indexes
	case *dynamodb.QueryInput:
		v.ReturnConsumedCapacity = indexes
	case *dynamodb.ScanInput:
		v.ReturnConsumedCapacity = indexes
	case *dynamodb.PutItemInput:
		v.ReturnConsumedCapacity = indexes
	case *dynamodb.UpdateItemInput:
		v.ReturnConsumedCapacity = indexes
	case *dynamodb.DeleteItemInput:
		v.ReturnConsumedCapacity = indexes
	case *dynamodb.BatchWriteItemInput:
		v.ReturnConsumedCapacity = indexes
	case *dynamodb.TransactGetItemsInput:
		v.ReturnConsumedCapacity = indexes
	case *dynamodb.TransactWriteItemsInput:
		v.ReturnConsumedCapacity = indexes
	}
}

func consumed(out any) []types.ConsumedCapacity {
	one := func(c *types.ConsumedCapacity) []types.ConsumedCapacity {
		if c == nil {
			return nil
		}
		return []types.ConsumedCapacity{*c}
	}
	switch v := out.(type) {
	case *dynamodb.GetItemOutput:
		return one(v.ConsumedCapacity)
	case *dynamodb.BatchGetItemOutput:
		return v.ConsumedCapacity
	case *dynamodb.QueryOutput:
		return one(v.ConsumedCapacity)
	case *dynamodb.ScanOutput:
		return one(v.ConsumedCapacity)
	case *dynamodb.PutItemOutput:
		return one(v.ConsumedCapacity)
	case *dynamodb.UpdateItemOutput:
		return one(v.ConsumedCapacity)
	case *dynamodb.DeleteItemOutput:
		return one(v.ConsumedCapacity)
	case *dynamodb.BatchWriteItemOutput:
		return v.ConsumedCapacity
	case *dynamodb.TransactGetItemsOutput:
		return v.ConsumedCapacity
	case *dynamodb.TransactWriteItemsOutput:
		return v.ConsumedCapacity
	}
	return nil
}
