import { Field, ObjectType, registerEnumType } from 'type-graphql';
import type { Role } from '../db.js';
import { UUIDScalar } from './uuid.scalar.js';

/** The GraphQL face of `Role`: its values are the database's, its names upper case. */
export enum UserRole {
  ADMIN = 'admin',
  USER = 'user',
}

registerEnumType(UserRole, {
  name: 'Role',
  description: 'What a user may do.',
  valuesConfig: {
    ADMIN: { description: "May also change and delete other users' annotations." },
    USER: { description: 'May change and delete only their own annotations.' },
  },
});

@ObjectType({ description: 'A user of the gateway.', simpleResolvers: true })
export class User {
  @Field(() => UUIDScalar)
  id!: string;

  @Field(() => String)
  username!: string;

  @Field(() => UserRole, { description: "The user's current role." })
  role!: Role;
}
