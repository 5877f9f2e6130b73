/**
 * The gateway's own UUID scalar (subscriber-graphql/schema/uuid.scalar.ts): graphql-scalars'
 * GraphQLUUID with a fast path for the canonical ids PostgreSQL returns; anything else still goes
 * through the library's checks.
 */
import { GraphQLUUID } from 'graphql-scalars';
import { describe, expect, it } from 'vitest';
import { UUIDScalar } from '../subscriber-graphql/schema/uuid.scalar.js';

describe('UUID scalar', () => {
  it('is GraphQLUUID by name, description and inputs', () => {
    expect(UUIDScalar.name).toBe(GraphQLUUID.name);
    expect(UUIDScalar.description).toBe(GraphQLUUID.description);
    const id = '0B0C2F9E-8F0E-4D38-9A55-4A3F5C1C0E11';
    expect(UUIDScalar.parseValue(id)).toBe(GraphQLUUID.parseValue(id));
    expect(() => UUIDScalar.parseValue('nope')).toThrow();
  });

  it('serves canonical ids as they are, and still refuses what is not a UUID', () => {
    const id = '0b0c2f9e-8f0e-4d38-9a55-4a3f5c1c0e11';
    expect(UUIDScalar.serialize(id)).toBe(id);
    expect(UUIDScalar.serialize(id.toUpperCase())).toBe(GraphQLUUID.serialize(id.toUpperCase()));
    for (const bad of ['not-a-uuid', `${id}x`, 42]) {
      expect(() => UUIDScalar.serialize(bad), String(bad)).toThrow();
    }
  });
});
