import type { GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { authChecker } from './graphql-errors.js';
import { AnnotationResolver } from './resolvers/annotation.resolver.js';
import { AnnotationPagesResolver } from './resolvers/annotation-pages.resolver.js';
import { AuthResolver } from './resolvers/auth.resolver.js';
import { DataConnectionResolver, DataResolver } from './resolvers/data.resolver.js';
import { FleetResolver } from './resolvers/fleet.resolver.js';
import { DateTimeScalar } from './schema/datetime.scalar.js';

export function buildGatewaySchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: [
      DataResolver,
      DataConnectionResolver,
      AnnotationPagesResolver,
      AnnotationResolver,
      AuthResolver,
      FleetResolver,
    ],
    authChecker,
    // One DateTime scalar everywhere (type-graphql would otherwise add DateTimeISO for Date).
    scalarsMap: [{ type: Date, scalar: DateTimeScalar }],
    validate: false,
  });
}
