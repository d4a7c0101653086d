import { type Principal } from '@axle/auth';
import { type PolicyCommand, PolicyService } from '@axle/policies';
import { agentAddress, type PolicyEntryKind } from '@axle/protocol';
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Req } from '@nestjs/common';
import { type FastifyRequest } from 'fastify';
import { CurrentPrincipal } from '../http/request-context';

type AgentParams = { address?: string; org?: string; ws?: string; name?: string };

/**
 * An agent route's address: one URL-encoded segment (`agent%3A%2F%2Facme%2Fdefault%2Fbot`), the three
 * segments org/ws/name, or `agent://org/ws/name` unencoded as the AXME CLI puts it into the path
 * (`::` is a literal `:` for the router).
 */
const agentPaths = (suffix: string) => [
  `agents/:address/${suffix}`,
  `agents/:org/:ws/:name/${suffix}`,
  `agents/agent:://:org/:ws/:name/${suffix}`,
];

/**
 * REST adapter over the policy service (reference/axme-wire.md §1.3 "Policies and governance",
 * docs/policies.md): the org receive policy, an agent's receive override and its send policy, each
 * with `GET|PUT` and `GET|POST …/entries`, `DELETE …/entries/{entry_id}`.
 */
@Controller('v1')
export class PoliciesController {
  constructor(private readonly policies: PolicyService) {}

  // Org receive policy ---------------------------------------------------------------------------

  @Get(['organizations/:org/receive-policy', 'organizations/:org/receive-policy/entries'])
  async getOrg(@CurrentPrincipal() p: Principal, @Param('org') org: string, @Req() r: FastifyRequest) {
    return this.policies.get(command(p, 'org_receive', org, r));
  }

  @Put('organizations/:org/receive-policy')
  async setOrg(
    @CurrentPrincipal() p: Principal,
    @Param('org') org: string,
    @Body() body: unknown,
    @Req() r: FastifyRequest,
  ) {
    return this.policies.set({ ...command(p, 'org_receive', org, r), body });
  }

  @Post('organizations/:org/receive-policy/entries')
  @HttpCode(200)
  async addOrgEntry(
    @CurrentPrincipal() p: Principal,
    @Param('org') org: string,
    @Body() body: unknown,
    @Req() r: FastifyRequest,
  ) {
    return this.policies.addEntry({ ...command(p, 'org_receive', org, r), body });
  }

  @Delete('organizations/:org/receive-policy/entries/:entryId')
  async deleteOrgEntry(
    @CurrentPrincipal() p: Principal,
    @Param('org') org: string,
    @Param('entryId') entryId: string,
    @Req() r: FastifyRequest,
  ) {
    return this.policies.deleteEntry({ ...command(p, 'org_receive', org, r), entryId });
  }

  // Agent receive override -----------------------------------------------------------------------

  @Get([...agentPaths('receive-override'), ...agentPaths('receive-override/entries')])
  async getOverride(
    @CurrentPrincipal() p: Principal,
    @Param() params: AgentParams,
    @Req() r: FastifyRequest,
  ) {
    return this.policies.get(agentCommand(p, 'agent_receive', params, r));
  }

  @Put(agentPaths('receive-override'))
  async setOverride(
    @CurrentPrincipal() p: Principal,
    @Param() params: AgentParams,
    @Body() body: unknown,
    @Req() r: FastifyRequest,
  ) {
    return this.policies.set({ ...agentCommand(p, 'agent_receive', params, r), body });
  }

  @Post(agentPaths('receive-override/entries'))
  @HttpCode(200)
  async addOverrideEntry(
    @CurrentPrincipal() p: Principal,
    @Param() params: AgentParams,
    @Body() body: unknown,
    @Req() r: FastifyRequest,
  ) {
    return this.policies.addEntry({ ...agentCommand(p, 'agent_receive', params, r), body });
  }

  @Delete(agentPaths('receive-override/entries/:entryId'))
  async deleteOverrideEntry(
    @CurrentPrincipal() p: Principal,
    @Param() params: AgentParams & { entryId: string },
    @Req() r: FastifyRequest,
  ) {
    return this.policies.deleteEntry({
      ...agentCommand(p, 'agent_receive', params, r),
      entryId: params.entryId,
    });
  }

  // Agent send policy ----------------------------------------------------------------------------

  @Get([...agentPaths('policy'), ...agentPaths('policy/entries')])
  async getSend(@CurrentPrincipal() p: Principal, @Param() params: AgentParams, @Req() r: FastifyRequest) {
    return this.policies.get(agentCommand(p, 'agent_send', params, r));
  }

  @Put(agentPaths('policy'))
  async setSend(
    @CurrentPrincipal() p: Principal,
    @Param() params: AgentParams,
    @Body() body: unknown,
    @Req() r: FastifyRequest,
  ) {
    return this.policies.set({ ...agentCommand(p, 'agent_send', params, r), body });
  }

  @Post(agentPaths('policy/entries'))
  @HttpCode(200)
  async addSendEntry(
    @CurrentPrincipal() p: Principal,
    @Param() params: AgentParams,
    @Body() body: unknown,
    @Req() r: FastifyRequest,
  ) {
    return this.policies.addEntry({ ...agentCommand(p, 'agent_send', params, r), body });
  }

  @Delete(agentPaths('policy/entries/:entryId'))
  async deleteSendEntry(
    @CurrentPrincipal() p: Principal,
    @Param() params: AgentParams & { entryId: string },
    @Req() r: FastifyRequest,
  ) {
    return this.policies.deleteEntry({
      ...agentCommand(p, 'agent_send', params, r),
      entryId: params.entryId,
    });
  }
}

function command(
  principal: Principal,
  kind: PolicyEntryKind,
  ref: string,
  request: FastifyRequest,
): PolicyCommand {
  return { principal, kind, ref, requestId: request.id };
}

function agentCommand(
  principal: Principal,
  kind: PolicyEntryKind,
  params: AgentParams,
  request: FastifyRequest,
): PolicyCommand {
  const ref = params.address ?? agentAddress(params.org ?? '', params.ws ?? '', params.name ?? '');
  return command(principal, kind, ref, request);
}
