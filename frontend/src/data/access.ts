/**
 * Access administration (administrators only): `cctv_nvr/access` (users and every camera's
 * rules), `cctv_nvr/access/set_grant`, `cctv_nvr/access/delete_grant`,
 * `cctv_nvr/access/set_defaults`, and `cctv_nvr/subscribe_access` (told when access changes;
 * for every user).
 */
import type { HomeAssistant, WsMessage } from "./connection";

export type Right = "live" | "recordings" | "export" | "control";
export type Day = "mon" | "tue" | "wed" | "thu" | "fri" | "sat" | "sun";

/** A weekly window, local time ("HH:MM"); an end not after the start runs across midnight. */
export interface AccessWindow {
  days: Day[];
  start: string;
  end: string;
}

export interface Grant {
  rights: Right[];
  windows: AccessWindow[];
  lookback_hours: number | null;
}

export interface UserGrant extends Grant {
  user_id: string;
  user: string; // the user's name
}

export interface CameraAccess {
  id: string;
  name: string;
  default_rights: Right[]; // what users without a grant may do
  live_panel_only: boolean;
  grants: UserGrant[];
}

export interface AccessUser {
  id: string;
  name: string;
}

export interface AccessRequest extends WsMessage {
  type: "cctv_nvr/access";
}

export interface AccessAnswer {
  users: AccessUser[]; // non-admin users grants are for
  rights: Right[];
  days: Day[];
  cameras: CameraAccess[];
}

export interface SetGrantRequest extends WsMessage, Grant {
  type: "cctv_nvr/access/set_grant";
  camera: string;
  user_id: string;
}

export interface DeleteGrantRequest extends WsMessage {
  type: "cctv_nvr/access/delete_grant";
  camera: string;
  user_id: string;
}

export interface SetDefaultsRequest extends WsMessage {
  type: "cctv_nvr/access/set_defaults";
  camera: string;
  default_rights?: Right[];
  live_panel_only?: boolean;
}

export interface DefaultsAnswer {
  default_rights: Right[];
  live_panel_only: boolean;
}

export const accessMessage = (): AccessRequest => ({ type: "cctv_nvr/access" });

export const setGrantMessage = (
  camera: string,
  userId: string,
  grant: Grant,
): SetGrantRequest => ({
  type: "cctv_nvr/access/set_grant",
  camera,
  user_id: userId,
  rights: grant.rights,
  windows: grant.windows,
  lookback_hours: grant.lookback_hours,
});

export const deleteGrantMessage = (camera: string, userId: string): DeleteGrantRequest => ({
  type: "cctv_nvr/access/delete_grant",
  camera,
  user_id: userId,
});

export const setDefaultsMessage = (
  camera: string,
  changes: { default_rights?: Right[]; live_panel_only?: boolean },
): SetDefaultsRequest => ({ type: "cctv_nvr/access/set_defaults", camera, ...changes });

export const fetchAccess = (hass: HomeAssistant): Promise<AccessAnswer> =>
  hass.callWS<AccessAnswer>(accessMessage());

export const setGrant = (
  hass: HomeAssistant,
  camera: string,
  userId: string,
  grant: Grant,
): Promise<UserGrant> => hass.callWS<UserGrant>(setGrantMessage(camera, userId, grant));

export const deleteGrant = (
  hass: HomeAssistant,
  camera: string,
  userId: string,
): Promise<{ deleted: string }> =>
  hass.callWS<{ deleted: string }>(deleteGrantMessage(camera, userId));

export const setDefaults = (
  hass: HomeAssistant,
  camera: string,
  changes: { default_rights?: Right[]; live_panel_only?: boolean },
): Promise<DefaultsAnswer> => hass.callWS<DefaultsAnswer>(setDefaultsMessage(camera, changes));

export interface SubscribeAccessRequest extends WsMessage {
  type: "cctv_nvr/subscribe_access";
}

export const subscribeAccessMessage = (): SubscribeAccessRequest => ({
  type: "cctv_nvr/subscribe_access",
});

/** Call `onChange` whenever access changes; resolves to the function that unsubscribes. */
export const subscribeAccess = (
  hass: HomeAssistant,
  onChange: () => void,
): Promise<() => Promise<void>> =>
  hass.connection.subscribeMessage<{ changed: boolean }>(onChange, subscribeAccessMessage());
