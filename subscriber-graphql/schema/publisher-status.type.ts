import { Field, Float, Int, ObjectType, registerEnumType } from 'type-graphql';

/** The GraphQL face of collector/fleet.ts's PublisherState: its values are fleet.ts's strings. */
export enum PublisherStateValue {
  STREAMING = 'streaming',
  CATCHING_UP = 'catching up',
  UNREACHABLE = 'unreachable',
  STOPPED_BY_ERROR = 'stopped by error',
  DISABLED = 'disabled',
  SLOT_LOST = 'slot lost',
}

registerEnumType(PublisherStateValue, {
  name: 'PublisherState',
  description: 'What one subscription is doing, as `collector publishers status` tells it.',
  valuesConfig: {
    STREAMING: { description: 'Its apply worker runs and is close behind the publisher.' },
    CATCHING_UP: { description: 'Running, but more than 1 MB or 10 s behind, or copying tables.' },
    UNREACHABLE: { description: 'Enabled, but no worker runs: the publisher cannot be reached.' },
    STOPPED_BY_ERROR: { description: 'A transaction fails to apply (a conflict): see reason.' },
    DISABLED: { description: 'Disabled by ALTER SUBSCRIPTION … DISABLE.' },
    SLOT_LOST: { description: 'Its replication slot is missing or invalidated on the publisher.' },
  },
});

@ObjectType({ description: 'How many conflicts of one type a subscription met.' })
export class ConflictCount {
  @Field(() => String, { description: 'insert_exists, update_missing, … (PostgreSQL 18).' })
  type!: string;

  @Field(() => Float)
  count!: number;
}

@ObjectType({ description: 'The transaction that stopped a subscription, from the log.' })
export class FailedTransaction {
  @Field(() => String, {
    nullable: true,
    description: 'Its finish LSN, for ALTER SUBSCRIPTION … SKIP (lsn = …).',
  })
  finishLsn!: string | null;

  @Field(() => String)
  error!: string;

  @Field(() => String, { description: 'When it failed, as the subscriber log wrote it.' })
  at!: string;
}

@ObjectType({ description: 'One publisher as the subscriber sees it.' })
export class PublisherStatusType {
  @Field(() => String)
  name!: string;

  @Field(() => String, { description: 'Its subscription on the subscriber (collector_<name>).' })
  subscription!: string;

  @Field(() => PublisherStateValue)
  state!: PublisherStateValue;

  @Field(() => String, {
    nullable: true,
    description: 'Why, for every state but the running ones.',
  })
  reason!: string | null;

  @Field(() => Boolean)
  enabled!: boolean;

  @Field(() => String, { nullable: true, description: 'ISO time of the last message received.' })
  lastMessageAt!: string | null;

  @Field(() => Float, { nullable: true })
  secondsSinceLastMessage!: number | null;

  @Field(() => Float, {
    nullable: true,
    description: 'WAL the publisher holds that the subscriber has not confirmed (null: unknown).',
  })
  lagBytes!: number | null;

  @Field(() => Float, { nullable: true, description: 'Replay lag in seconds (null: unknown).' })
  lagSeconds!: number | null;

  @Field(() => Float, {
    nullable: true,
    description:
      'Rows of this publisher on the subscriber (null: not counted this time: a large table ' +
      'still being counted after the gateway started or the fleet changed, or a count that ' +
      'failed or took too long).',
  })
  rowsReceived!: number | null;

  @Field(() => Int)
  applyErrorCount!: number;

  @Field(() => Int)
  syncErrorCount!: number;

  @Field(() => [ConflictCount], { description: 'By type, zeros included.' })
  conflicts!: ConflictCount[];

  @Field(() => FailedTransaction, { nullable: true })
  failedTransaction!: FailedTransaction | null;

  @Field(() => String, {
    nullable: true,
    description: 'Why the publisher could not be asked for its slot and lag, if it could not.',
  })
  publisherError!: string | null;
}
