import { Authorized, Ctx, Query, Resolver, UseMiddleware } from 'type-graphql';
import type { AuthUser } from '../auth.js';
import type { Context } from '../context.js';
import { mapErrors } from '../graphql-errors.js';
import { type PublisherStateValue, PublisherStatusType } from '../schema/publisher-status.type.js';
import { publishersStatus } from '../services/fleet-monitor.js';

@UseMiddleware(mapErrors)
@Resolver()
export class FleetResolver {
  @Authorized()
  @Query(() => [PublisherStatusType], {
    description:
      'Every publisher: state, lag, rows received, errors and conflicts (as `collector publishers status`). Admins only.',
  })
  async publishers(@Ctx() ctx: Context): Promise<PublisherStatusType[]> {
    const statuses = await publishersStatus(ctx.user as AuthUser, ctx.monitor);
    return statuses.map((s) => ({
      ...s,
      state: s.state as PublisherStateValue,
      conflicts: Object.entries(s.conflicts).map(([type, count]) => ({ type, count })),
      publisherError:
        s.publisher === null
          ? 'not asked: no COLLECTOR_PUBLISHER_MONITOR_URLS entry for this publisher'
          : (s.publisher.error ?? null),
    }));
  }
}
