/** Who is making a call, as proven by their access token. */
export type CallerKind = "user" | "device" | "service";

export interface Caller {
  readonly kind: CallerKind;
  /** User id, device id, or service name. */
  readonly subject: string;
  /** The tenant the token is bound to; undefined only for platform-level service tokens. */
  readonly organizationId: string | undefined;
  readonly sessionId: string | undefined;
  readonly roles: readonly string[];
  /** A platform operator (is_staff): may manage organisations other than its own. */
  readonly platformStaff: boolean;
  /** The token's `jti`. */
  readonly tokenId: string;
  readonly expiresAt: Date;
}

/** The JWT claims Rollcall's access tokens carry beyond the registered ones. */
export interface RollcallClaims {
  typ: CallerKind;
  org?: string;
  sid?: string;
  roles?: string[];
  /** Present and true only for platform operators. */
  staff?: boolean;
}
