import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { join } from 'node:path';

export type Route = { method: string; path: string };

/**
 * Every route the gateway serves (`/v1/x/:id` patterns), read from its controllers' Nest metadata,
 * so a new route is covered by the isolation matrix, the fuzz and the Ingress check without touching
 * them. Includes /health, /ready and /metrics.
 */
export async function gatewayRoutes(): Promise<Route[]> {
  // The built gateway, as the processes under test run it.
  const { GatewayModule } = (await import(
    join(process.cwd(), 'dist/apps/gateway/src/gateway.module.js')
  )) as {
    GatewayModule: {
      forRoot(config: unknown, logger: unknown): { controllers: (new (...args: never[]) => unknown)[] };
    };
  };
  const module = GatewayModule.forRoot(
    { database: { url: 'postgresql://unused' }, redis: { url: 'redis://unused' } },
    {},
  );
  const routes: Route[] = [];
  for (const controller of module.controllers) {
    const bases = ([] as string[]).concat(
      Reflect.getMetadata(PATH_METADATA, controller) as string | string[],
    );
    const proto = controller.prototype as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(proto)) {
      const handler = proto[name];
      if (name === 'constructor' || typeof handler !== 'function') continue;
      const paths = Reflect.getMetadata(PATH_METADATA, handler) as string | string[] | undefined;
      if (paths === undefined) continue;
      const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod];
      for (const base of bases)
        for (const path of ([] as string[]).concat(paths))
          routes.push({ method, path: `/${[base, path].filter((p) => p && p !== '/').join('/')}` });
    }
  }
  return routes;
}

/** The same routes as `METHOD /path` strings. */
export async function gatewayRouteKeys(): Promise<string[]> {
  return (await gatewayRoutes()).map((r) => `${r.method} ${r.path}`);
}
