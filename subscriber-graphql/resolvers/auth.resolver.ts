import { Arg, Authorized, Ctx, Mutation, Query, Resolver, UseMiddleware } from 'type-graphql';
import { type AuthUser, signToken } from '../auth.js';
import type { Context } from '../context.js';
import { mapErrors } from '../graphql-errors.js';
import { User } from '../schema/user.type.js';
import { endSessions } from '../services/sessions.js';
import { login } from '../services/users.js';

@UseMiddleware(mapErrors)
@Resolver()
export class AuthResolver {
  @Authorized()
  @Query(() => User, { description: 'Who the token belongs to.' })
  me(@Ctx() ctx: Context): User {
    // The authChecker guarantees a user here.
    return ctx.user as User;
  }

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

  @Authorized()
  @Mutation(() => Boolean, {
    description:
      "Sign out: ends every session of this user, so this token and all the user's other tokens " +
      '(other devices included) are refused from now on. Log in again for a new one.',
  })
  async logout(@Ctx() ctx: Context): Promise<boolean> {
    await endSessions(ctx.db, (ctx.user as AuthUser).id);
    return true;
  }
}
