/** `cctv_nvr/audit` (administrators only): who watched, exported, protected or deleted what. */
import type { HomeAssistant, WsMessage } from "./connection";

export type AuditAction =
  | "watched"
  | "watched_live"
  | "exported"
  | "downloaded"
  | "protected"
  | "unprotected"
  | "deleted"
  | "export_deleted"
  | "event_deleted"
  | "access_changed";

export interface AuditRecord {
  ts: number;
  user_id: string | null;
  user: string | null;
  camera: string | null;
  action: AuditAction;
  start: number | null;
  end: number | null;
  detail: string | null;
}

export interface AuditFilter {
  from: string; // local day, YYYY-MM-DD
  to?: string; // last local day (at most 31 days)
  user_id?: string;
  camera?: string;
}

export interface AuditRequest extends WsMessage, AuditFilter {
  type: "cctv_nvr/audit";
}

export interface AuditAnswer {
  records: AuditRecord[]; // newest first
  users: { id: string; name: string }[]; // every (non-system) user, for the filter
  csv_url: string; // signed URL of the same selection as CSV
  now: number;
}

export const auditMessage = (filter: AuditFilter): AuditRequest => {
  const message: AuditRequest = { type: "cctv_nvr/audit", from: filter.from };
  if (filter.to) message.to = filter.to;
  if (filter.user_id) message.user_id = filter.user_id;
  if (filter.camera) message.camera = filter.camera;
  return message;
};

export const fetchAudit = (hass: HomeAssistant, filter: AuditFilter): Promise<AuditAnswer> =>
  hass.callWS<AuditAnswer>(auditMessage(filter));
