import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';
import { signToken } from '../auth.js';
import type { Context } from '../context.js';
import { login } from '../services/users.js';

@Resolver()
export class AuthResolver {
  @Mutation(() => String, {
    description:
      'Exchange a username and password for a JWT. Send it on every other operation as ' +
      '"Authorization: Bearer <token>".',
  })
  async login(
    @Ctx() ctx: Context,
    @Arg('username', () => String) username: string,
    @Arg('password', () => String) password: string,
  ): Promise<string> {
    const user = await login(ctx.db, ctx.throttle, { username, password, address: ctx.address });
    return signToken(user, ctx.tokens);
  }
}
