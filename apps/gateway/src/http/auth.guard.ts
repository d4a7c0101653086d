import { AuthService } from '@axle/auth';
import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type FastifyRequest } from 'fastify';
import { headerValue, PUBLIC_ROUTE } from './request-context';

/** Every route needs a credential unless marked @Public(). */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly auth: AuthService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [context.getHandler(), context.getClass()]))
      return true;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    request.principal = await this.auth.authenticate(
      { apiKey: headerValue(request, 'x-api-key'), authorization: headerValue(request, 'authorization') },
      request.id,
    );
    return true;
  }
}
