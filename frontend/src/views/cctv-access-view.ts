/**
 * The Access tab (administrators only): per camera, what users without an access grant may
 * (`cctv_nvr/access/set_defaults`, applied at each change), whether its live video stays in the
 * CCTV panel, and the grants (user, rights, weekly time windows, look-back) with add, edit
 * (components/cctv-grant-editor) and remove (`cctv_nvr/access/delete_grant`). The grants are
 * the camera's config subentries in Home Assistant: one model, edited here or in its settings.
 *
 * The shell calls `refresh` when the tab is chosen and whenever access changes (its
 * `cctv_nvr/subscribe_access`); errors the integration answers are shown in the camera's card.
 */
import { css, html, nothing, type TemplateResult } from "lit";
import { keyed } from "lit/directives/keyed.js";
import { CctvElement, errorText } from "../common/cctv-element";
import type { CctvEvent } from "../common/fire-event";
import {
  type AccessAnswer,
  type CameraAccess,
  type Day,
  type Right,
  type UserGrant,
  deleteGrant,
  fetchAccess,
  setDefaults,
} from "../data/access";
import { sharedStyles } from "../styles";
import "../components/cctv-grant-editor";
import {
  type GrantDraft,
  RIGHTS,
  dayKey,
  draftOf,
  newDraft,
  rightKey,
  toggled,
  usersWithoutGrant,
  windowText,
} from "./access-state";

interface Editing {
  camera: string;
  draft: GrantDraft;
  isNew: boolean;
}

interface CardStatus {
  text: string;
  error: boolean;
}

export class CctvAccessView extends CctvElement {
  static override properties = {
    zone: {},
    _access: { state: true },
    _editing: { state: true },
    _status: { state: true },
  };

  zone = "UTC";
  private _access: AccessAnswer | null = null;
  private _editing: Editing | null = null;
  private _status: Record<string, CardStatus> = {};

  async refresh(): Promise<void> {
    try {
      this._access = await fetchAccess(this.connection);
    } catch (err) {
      this.fail(err);
    }
  }

  private _setStatus(camera: string, status: CardStatus | null): void {
    const next = { ...this._status };
    if (status) next[camera] = status;
    else delete next[camera];
    this._status = next;
  }

  /** Put a camera's changed rules in place at once (the answer, or a reload, settles them). */
  private _patch(id: string, change: Partial<CameraAccess>): void {
    if (!this._access) return;
    this._access = {
      ...this._access,
      cameras: this._access.cameras.map((c) => (c.id === id ? { ...c, ...change } : c)),
    };
  }

  /** The latest change of each camera's defaults: an older answer must not undo a newer change. */
  private _defaultsChange = new Map<string, number>();

  /** The camera's defaults as they are now (a click may come before the next render). */
  private _currentRights(id: string): Right[] {
    return this._access?.cameras.find((c) => c.id === id)?.default_rights ?? [];
  }

  private async _setDefaults(
    camera: CameraAccess,
    changes: { default_rights?: Right[]; live_panel_only?: boolean },
  ): Promise<void> {
    const change = (this._defaultsChange.get(camera.id) ?? 0) + 1;
    this._defaultsChange.set(camera.id, change);
    this._patch(camera.id, changes);
    this._setStatus(camera.id, null);
    try {
      const answer = await setDefaults(this.connection, camera.id, changes);
      if (this._defaultsChange.get(camera.id) !== change) return; // a newer change is on its way
      this._patch(camera.id, answer);
      this._setStatus(camera.id, { text: this.t("saved"), error: false });
    } catch (err) {
      this._setStatus(camera.id, { text: errorText(err), error: true });
      await this.refresh();
    }
  }

  private async _remove(camera: CameraAccess, grant: UserGrant): Promise<void> {
    if (!window.confirm(this.t("confirm_remove_grant", { user: grant.user, camera: camera.name }))) return;
    this._setStatus(camera.id, null);
    try {
      await deleteGrant(this.connection, camera.id, grant.user_id);
      if (this._editing?.camera === camera.id && this._editing.draft.user_id === grant.user_id) this._editing = null;
      this._setStatus(camera.id, { text: this.t("saved"), error: false });
    } catch (err) {
      this._setStatus(camera.id, { text: errorText(err), error: true });
    }
    await this.refresh();
  }

  private async _onSaved(ev: CctvEvent<"cctv-grant-saved">): Promise<void> {
    this._editing = null;
    this._setStatus(ev.detail.camera, { text: this.t("saved"), error: false });
    await this.refresh();
    this.renderRoot.querySelector<HTMLElement>(`[data-camera="${ev.detail.camera}"] .add-grant`)?.focus();
  }

  private _dayName = (day: Day): string => this.t(dayKey(day));

  protected override render(): TemplateResult {
    const access = this._access;
    if (!access) return html`<p class="empty">…</p>`;
    if (!access.cameras.length) return html`<p class="empty">${this.t("no_cameras")}</p>`;
    return html`<div class="cameras">${access.cameras.map((camera) => this._renderCamera(access, camera))}</div>`;
  }

  private _renderCamera(access: AccessAnswer, camera: CameraAccess): TemplateResult {
    const headingId = `camera-${camera.id}`;
    const status = this._status[camera.id];
    const editing = this._editing?.camera === camera.id ? this._editing : null;
    const free = usersWithoutGrant(access.users, camera);
    return html`<section class="card camera-access" data-camera=${camera.id} aria-labelledby=${headingId}>
      <h2 id=${headingId}>${camera.name}</h2>
      <fieldset class="defaults">
        <legend>${this.t("default_rights")}</legend>
        ${RIGHTS.map(
          (right) => html`<label class="check">
            <input type="checkbox" name="default" value=${right} .checked=${camera.default_rights.includes(right)}
              @change=${(ev: Event) =>
                void this._setDefaults(camera, {
                  default_rights: toggled(this._currentRights(camera.id), right, (ev.target as HTMLInputElement).checked, RIGHTS),
                })} />
            ${this.t(rightKey(right))}
          </label>`,
        )}
        ${camera.default_rights.length ? nothing : html`<p class="hint none">${this.t("default_rights_none")}</p>`}
      </fieldset>
      <label class="check panel-only">
        <input type="checkbox" role="switch" aria-describedby="${headingId}-panel-only" .checked=${camera.live_panel_only}
          @change=${(ev: Event) => void this._setDefaults(camera, { live_panel_only: (ev.target as HTMLInputElement).checked })} />
        ${this.t("live_panel_only")}
      </label>
      <p class="hint" id="${headingId}-panel-only">${this.t("live_panel_only_hint")}</p>
      <h3>${this.t("grants")}</h3>
      ${camera.grants.length ? this._renderGrants(camera) : html`<p class="empty">${this.t("no_grants")}</p>`}
      <div class="row">
        <button class="add-grant" ?disabled=${!free.length || editing !== null}
          @click=${() => (this._editing = { camera: camera.id, draft: newDraft(free.length === 1 ? free[0].id : ""), isNew: true })}>
          + ${this.t("add_grant")}
        </button>
        ${free.length ? nothing : html`<span class="hint">${this.t("no_users_left")}</span>`}
        <span class="status ${status?.error ? "error" : ""}" role=${status?.error ? "alert" : "status"}>${status?.text ?? ""}</span>
      </div>
      ${editing
        ? keyed(`${editing.isNew ? "new" : editing.draft.user_id}`, html`<cctv-grant-editor
            .hass=${this.hass}
            .camera=${camera}
            .users=${editing.isNew ? free : access.users}
            .draft=${editing.draft}
            .isNew=${editing.isNew}
            .zone=${this.zone}
            @cctv-grant-saved=${(ev: CctvEvent<"cctv-grant-saved">) => void this._onSaved(ev)}
            @cctv-grant-cancel=${() => (this._editing = null)}
          ></cctv-grant-editor>`)
        : nothing}
    </section>`;
  }

  private _renderGrants(camera: CameraAccess): TemplateResult {
    return html`<div class="table-wrap">
      <table class="data grants">
        <thead>
          <tr><th scope="col">${this.t("user")}</th><th scope="col">${this.t("rights")}</th><th scope="col">${this.t("windows")}</th><th scope="col">${this.t("lookback")}</th><th scope="col"><span class="visually-hidden">${this.t("edit")}</span></th></tr>
        </thead>
        <tbody>
          ${camera.grants.map(
            (grant) => html`<tr data-user=${grant.user_id}>
              <th scope="row" class="user">${grant.user}</th>
              <td class="rights">${RIGHTS.filter((r) => grant.rights.includes(r)).map((r) => this.t(rightKey(r))).join(", ")}</td>
              <td class="windows">
                ${grant.windows.length
                  ? grant.windows.map(
                      (w) => html`<div>${windowText(w, this._dayName, this.t("every_day"), this.t("window_overnight"))}</div>`,
                    )
                  : this.t("always")}
              </td>
              <td class="lookback">${grant.lookback_hours === null ? this.t("lookback_none") : this.t("lookback_value", { hours: grant.lookback_hours })}</td>
              <td class="actions">
                <button class="link edit" aria-label=${this.t("edit_grant", { user: grant.user })}
                  @click=${() => (this._editing = { camera: camera.id, draft: draftOf(grant), isNew: false })}>${this.t("edit")}</button>
                <button class="link remove" aria-label=${this.t("remove_grant", { user: grant.user })}
                  @click=${() => void this._remove(camera, grant)}>${this.t("remove")}</button>
              </td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>`;
  }

  static override styles = [
    sharedStyles,
    css`
      .cameras { display: flex; flex-direction: column; gap: 12px; }
      .camera-access { padding: 12px; }
      h3 { font-size: 16px; font-weight: 500; margin: 12px 0 4px; }
      .hint { font-size: 13px; margin: 0 0 6px; }
      .panel-only { margin-top: 4px; }
      .status { margin-left: auto; font-size: 14px; }
      table.data th[scope="row"] { font-weight: 500; color: var(--primary-text-color, #212121); }
      .actions { white-space: nowrap; }
      .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
    `,
  ];
}

declare global {
  interface HTMLElementTagNameMap {
    "cctv-access-view": CctvAccessView;
  }
}

if (!customElements.get("cctv-access-view")) customElements.define("cctv-access-view", CctvAccessView);
