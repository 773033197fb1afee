// Declarations of @alter-ai/alter-sdk/testing.
import type { App, Agent, AppOptions, AgentOptions, CreateAgentOptions } from "./index";

export interface LocalVaultOptions {
  /** Keep the vault's state in this SQLite file across restarts. */
  stateFile?: string;
}

export interface UserCreds {
  userId: string;
  userToken: string;
}

export interface OAuthGrantIds {
  grantId: string;
  delegationGrantId: string | null;
  credentialId: string;
}

/** The local vault's operator API (`/_dev/*`). Bodies take camelCase keys. */
export declare class VaultAdmin {
  private constructor();
  health(): Promise<unknown>;
  createManagedSecret(body: Record<string, unknown>): Promise<string>;
  managedSecret(slug: string, credential: string): Promise<string>;
  createManagedSecretGrant(managedSecretId: string, body: Record<string, unknown>): Promise<string>;
  managedSecretGrant(managedSecretId: string, agentId: string | null, label: string): Promise<string>;
  createUser(email: string): Promise<UserCreds>;
  createOAuthGrant(body: Record<string, unknown>): Promise<OAuthGrantIds>;
  updateGrant(grantId: string, body: Record<string, unknown>): Promise<Record<string, unknown>>;
  approval(approvalId: string): Promise<Record<string, unknown>>;
  decide(approvalId: string, decision: "approve" | "deny" | "expire", reason?: string | null): Promise<Record<string, unknown>>;
  audit(): Promise<Array<Record<string, any>>>;
  addFault(body: Record<string, unknown>): Promise<unknown>;
  clearFaults(): Promise<unknown>;
  updateKey(body: Record<string, unknown>): Promise<unknown>;
  updateAgent(agentId: string, body: Record<string, unknown>): Promise<unknown>;
  /** A Connect session as stored, with its poll answer under `poll`. */
  connectSession(sessionToken: string): Promise<Record<string, any>>;
  /** Acts as the end user on a Connect session's consent page; resolves with the poll answer. */
  completeConnect(
    sessionToken: string,
    action?: "approve" | "deny" | "decline" | "fail" | "expire",
    fields?: Record<string, unknown>,
  ): Promise<Record<string, any>>;
}

/** The embedded local vault: a real HTTP server on loopback, in-process. */
export declare class LocalVault {
  private constructor();
  static start(options?: LocalVaultOptions): Promise<LocalVault>;
  readonly baseUrl: string;
  readonly appId: string;
  readonly appApiKey: string;
  readonly adminToken: string;
  readonly admin: VaultAdmin;
  echoUrl(path?: string): string;
  providerUrl(path: string): string;
  app(options?: Partial<AppOptions>): App;
  agent(apiKey: string, options?: Partial<AgentOptions>): Agent;
  newAgent(name: string, options?: Omit<CreateAgentOptions, "name">): Promise<{ id: string; apiKey: string }>;
  boundSecret(slug: string, credential: string, agentId?: string | null): Promise<string>;
  stop(): Promise<void>;
  toJSON(): { baseUrl: string; appId: string };
}
