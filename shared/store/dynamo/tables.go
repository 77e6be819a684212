package dynamo

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
)

// TableAPI is what CreateTables needs.
type TableAPI interface {
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	UpdateTimeToLive(context.Context, *dynamodb.UpdateTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// CreateTableInput translates a schema table into the SDK's request
// (on-demand billing), named name.
func CreateTableInput(t schema.Table, name string) *dynamodb.CreateTableInput {
	in := &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest}
	for _, a := range t.KeyAttributes() {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(a), AttributeType: types.ScalarAttributeTypeS})
	}
	in.KeySchema = keySchema(t.PartitionKey, t.SortKey)
	for _, ix := range t.Indexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName:  aws.String(ix.Name),
			KeySchema:  keySchema(ix.PartitionKey, ix.SortKey),
			Projection: &types.Projection{ProjectionType: types.ProjectionType(ix.Projection)},
		})
	}
	return in
}

func keySchema(pk, sk string) []types.KeySchemaElement {
	ks := []types.KeySchemaElement{{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash}}
	if sk != "" {
		ks = append(ks, types.KeySchemaElement{AttributeName: aws.String(sk), KeyType: types.KeyTypeRange})
	}
	return ks
}

// CreateTables creates the state and audit tables (for local use and
// tests; production tables come from the CDK stack) and enables TTL. An
// existing table is left as it is.
func CreateTables(ctx context.Context, db TableAPI, table, auditTable string) error {
	for _, t := range []struct {
		def  schema.Table
		name string
	}{{schema.State(), table}, {schema.Audit(), auditTable}} {
		_, err := db.CreateTable(ctx, CreateTableInput(t.def, t.name))
		var inUse *types.ResourceInUseException
		if errors.As(err, &inUse) {
			continue
		}
		if err != nil {
			return fmt.Errorf("create table %s: %w", t.name, err)
		}
		if t.def.TTLAttribute != "" {
			_, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
				TableName:               aws.String(t.name),
				TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(t.def.TTLAttribute), Enabled: aws.Bool(true)},
			})
			if err != nil {
				return fmt.Errorf("enable ttl on %s: %w", t.name, err)
			}
		}
	}
	return nil
}
