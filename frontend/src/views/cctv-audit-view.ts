/**
 * The Audit tab (administrators only): who watched, exported, downloaded, protected or deleted
 * what, and who changed access, for some local days (at most 31), optionally of one user or
 * camera (`cctv_nvr/audit`), newest first, in Home Assistant's time zone; and the same selection
 * as a CSV file (the answer's signed `csv_url`). The shell calls `refresh` when the tab is chosen.
 */
import { css, html, nothing, type TemplateResult } from "lit";
import { CctvElement, errorText } from "../common/cctv-element";
import { type AccessUser, fetchAccess } from "../data/access";
import { type AuditAnswer, type AuditRecord, fetchAudit } from "../data/audit";
import type { Camera } from "../data/cameras";
import { sharedStyles } from "../styles";
import { formatClock, localDate } from "../timeline";
import { type AuditRangeError, actionKey, auditFilter, auditRangeError, auditUsers } from "./audit-state";

export class CctvAuditView extends CctvElement {
  static override properties = {
    zone: {},
    cameras: { attribute: false },
    _from: { state: true },
    _to: { state: true },
    _user: { state: true },
    _camera: { state: true },
    _answer: { state: true },
    _users: { state: true },
    _error: { state: true },
    _loading: { state: true },
  };

  zone = "UTC";
  cameras: Camera[] = [];
  private _from = "";
  private _to = "";
  private _user = "";
  private _camera = "";
  private _answer: AuditAnswer | null = null;
  private _users: AccessUser[] = [];
  private _known = new Map<string, string>();
  private _error: string | null = null;
  private _loading = false;
  private _request = 0;

  /** Load the selection again (today, the first time). */
  async refresh(): Promise<void> {
    if (!this._from) {
      this._from = this._to = localDate(Date.now() / 1000, this.zone);
    }
    try {
      this._users = auditUsers(this._known, (await fetchAccess(this.connection)).users, []);
    } catch (err) {
      this.fail(err);
    }
    await this._load();
  }

  private _rangeError(error: AuditRangeError): string {
    const { key, ...values } = error;
    return this.t(key, values);
  }

  private async _load(): Promise<void> {
    const invalid = auditRangeError(this._from, this._to);
    if (invalid) {
      this._error = this._rangeError(invalid);
      this._answer = null;
      return;
    }
    this._error = null;
    this._loading = true;
    const request = ++this._request; // an older answer arriving late is dropped
    try {
      const answer = await fetchAudit(this.connection, auditFilter(this._from, this._to, this._user, this._camera));
      if (request !== this._request) return;
      this._answer = answer;
      this._users = auditUsers(this._known, answer.users ?? [], answer.records);
    } catch (err) {
      if (request === this._request) this._error = errorText(err);
    } finally {
      if (request === this._request) this._loading = false;
    }
  }

  private _change(field: "_from" | "_to" | "_user" | "_camera", value: string): void {
    this[field] = value;
    void this._load();
  }

  private _moment(time: number): string {
    return `${localDate(time, this.zone)} ${formatClock(time, this.zone)}`;
  }

  private _range(record: AuditRecord): string {
    if (record.start === null) return "–";
    if (record.end === null) return this._moment(record.start);
    const sameDay = localDate(record.start, this.zone) === localDate(record.end, this.zone);
    return `${this._moment(record.start)} – ${sameDay ? formatClock(record.end, this.zone) : this._moment(record.end)}`;
  }

  protected override render(): TemplateResult {
    const names = new Map(this.cameras.map((c) => [c.id, c.name]));
    const answer = this._answer;
    return html`<div class="card audit">
      <form class="row filters" @submit=${(ev: Event) => {
        ev.preventDefault();
        void this._load();
      }}>
        <label class="field">${this.t("audit_from")}
          <input class="from" type="date" .value=${this._from} max=${this._to || nothing}
            @change=${(ev: Event) => this._change("_from", (ev.target as HTMLInputElement).value)} />
        </label>
        <label class="field">${this.t("audit_to")}
          <input class="to" type="date" .value=${this._to} min=${this._from || nothing}
            @change=${(ev: Event) => this._change("_to", (ev.target as HTMLInputElement).value)} />
        </label>
        <label class="field">${this.t("user")}
          <select class="user" @change=${(ev: Event) => this._change("_user", (ev.target as HTMLSelectElement).value)}>
            <option value="" ?selected=${!this._user}>${this.t("all_users")}</option>
            ${this._users.map((u) => html`<option value=${u.id} ?selected=${u.id === this._user}>${u.name}</option>`)}
          </select>
        </label>
        <label class="field">${this.t("camera")}
          <select class="camera" @change=${(ev: Event) => this._change("_camera", (ev.target as HTMLSelectElement).value)}>
            <option value="" ?selected=${!this._camera}>${this.t("all_cameras")}</option>
            ${this.cameras.map((c) => html`<option value=${c.id} ?selected=${c.id === this._camera}>${c.name}</option>`)}
          </select>
        </label>
        <button type="submit" class="show" ?disabled=${this._loading}>${this.t("show")}</button>
        <span class="spacer"></span>
        ${answer && !this._error
          ? html`<a class="download csv" href=${answer.csv_url} download>${this.t("download_csv")}</a>`
          : nothing}
      </form>
      ${this._error ? html`<p class="error" role="alert">${this._error}</p>` : nothing}
      ${answer && !this._error ? this._renderTable(answer, names) : nothing}
    </div>`;
  }

  private _renderTable(answer: AuditAnswer, names: Map<string, string>): TemplateResult {
    if (!answer.records.length) return html`<p class="empty">${this.t("no_audit")}</p>`;
    return html`<div class="table-wrap">
      <table class="data records">
        <thead>
          <tr>
            <th scope="col">${this.t("time")}</th><th scope="col">${this.t("user")}</th><th scope="col">${this.t("camera")}</th>
            <th scope="col">${this.t("action")}</th><th scope="col">${this.t("range")}</th><th scope="col">${this.t("detail")}</th>
          </tr>
        </thead>
        <tbody>
          ${answer.records.map((record) => {
            const key = actionKey(record.action);
            return html`<tr data-action=${record.action}>
              <td class="time"><time>${this._moment(record.ts)}</time></td>
              <td class="user">${record.user ?? record.user_id ?? this.t("system")}</td>
              <td class="camera">${record.camera === null ? "–" : (names.get(record.camera) ?? record.camera)}</td>
              <td class="action">${key ? this.t(key) : record.action}</td>
              <td class="range">${this._range(record)}</td>
              <td class="detail">${record.detail ?? ""}</td>
            </tr>`;
          })}
        </tbody>
      </table>
    </div>`;
  }

  static override styles = [
    sharedStyles,
    css`
      .filters { align-items: flex-end; padding: 0 0 8px; }
      .records td.time, .records td.range { white-space: nowrap; font-variant-numeric: tabular-nums; }
      .records td.detail { word-break: break-word; min-width: 160px; }
      .csv { padding: 6px 0; }
    `,
  ];
}

declare global {
  interface HTMLElementTagNameMap {
    "cctv-audit-view": CctvAuditView;
  }
}

if (!customElements.get("cctv-audit-view")) customElements.define("cctv-audit-view", CctvAuditView);
