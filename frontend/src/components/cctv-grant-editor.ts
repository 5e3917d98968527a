/**
 * The form of one access grant on a camera (a new one, or a user's existing one): the user, the
 * rights, weekly time windows (days, from and to; several, across midnight allowed) and an
 * optional look-back in hours. It checks the draft first (views/access-state.ts), saves with
 * `cctv_nvr/access/set_grant` and shows the integration's translated error when it refuses.
 *
 * Plain form controls with labels and fieldsets, so it works with the keyboard and screen
 * readers; Escape cancels. Fires `cctv-grant-saved` or `cctv-grant-cancel`.
 */
import { css, html, nothing, type TemplateResult } from "lit";
import { CctvElement, errorText } from "../common/cctv-element";
import { fireEvent } from "../common/fire-event";
import { type AccessUser, type AccessWindow, type CameraAccess, type Day, type Right, setGrant } from "../data/access";
import { sharedStyles } from "../styles";
import {
  DAYS,
  type DraftError,
  type GrantDraft,
  MAX_WINDOWS,
  RIGHTS,
  checkDraft,
  dayKey,
  isOvernight,
  newDraft,
  newWindow,
  rightKey,
  toggled,
} from "../views/access-state";

export class CctvGrantEditor extends CctvElement {
  static override properties = {
    camera: { attribute: false },
    users: { attribute: false },
    draft: { attribute: false },
    isNew: { type: Boolean },
    zone: {},
    _errors: { state: true },
    _serverError: { state: true },
    _busy: { state: true },
  };

  camera?: CameraAccess;
  /** The users a new grant may be for (those without one on the camera). */
  users: AccessUser[] = [];
  draft: GrantDraft = newDraft();
  isNew = false;
  zone = "UTC";
  private _errors: DraftError[] = [];
  private _serverError: string | null = null;
  private _busy = false;

  protected override firstUpdated(): void {
    this.renderRoot.querySelector<HTMLElement>("select, input")?.focus();
  }

  private _set(change: Partial<GrantDraft>): void {
    this.draft = { ...this.draft, ...change };
    this._errors = [];
    this._serverError = null;
  }

  private _setWindow(index: number, change: Partial<AccessWindow>): void {
    this._set({ windows: this.draft.windows.map((w, i) => (i === index ? { ...w, ...change } : w)) });
  }

  private _errorText(error: DraftError): string {
    const { key, ...values } = error;
    return this.t(key, values);
  }

  private async _save(ev: Event): Promise<void> {
    ev.preventDefault();
    if (!this.camera || this._busy) return;
    const checked = checkDraft(this.draft);
    if (!checked.grant) {
      this._errors = checked.errors;
      await this.updateComplete;
      this.renderRoot.querySelector<HTMLElement>(".errors")?.focus();
      return;
    }
    this._busy = true;
    try {
      await setGrant(this.connection, this.camera.id, this.draft.user_id, checked.grant);
      fireEvent(this, "cctv-grant-saved", { camera: this.camera.id, user_id: this.draft.user_id });
    } catch (err) {
      this._serverError = errorText(err);
    } finally {
      this._busy = false;
    }
  }

  private _cancel(): void {
    fireEvent(this, "cctv-grant-cancel", undefined);
  }

  protected override render(): TemplateResult | typeof nothing {
    const camera = this.camera;
    if (!camera) return nothing;
    const draft = this.draft;
    const userName =
      camera.grants.find((g) => g.user_id === draft.user_id)?.user ??
      this.users.find((u) => u.id === draft.user_id)?.name ??
      draft.user_id;
    const heading = this.isNew
      ? this.t("add_grant_for", { camera: camera.name })
      : this.t("edit_grant_for", { user: userName, camera: camera.name });
    const messages = [...this._errors.map((e) => this._errorText(e)), ...(this._serverError ? [this._serverError] : [])];
    return html`<form
      class="grant-editor"
      aria-label=${heading}
      novalidate
      @submit=${(ev: Event) => void this._save(ev)}
      @keydown=${(ev: KeyboardEvent) => {
        if (ev.key === "Escape") {
          ev.stopPropagation();
          this._cancel();
        }
      }}
    >
      <h3>${heading}</h3>
      ${this.isNew
        ? html`<label class="field">${this.t("user")}
            <select class="user" required @change=${(ev: Event) => this._set({ user_id: (ev.target as HTMLSelectElement).value })}>
              <option value="" ?selected=${!draft.user_id}>${this.t("choose_user")}</option>
              ${this.users.map((u) => html`<option value=${u.id} ?selected=${u.id === draft.user_id}>${u.name}</option>`)}
            </select>
          </label>`
        : nothing}
      <fieldset class="rights">
        <legend>${this.t("rights")}</legend>
        ${RIGHTS.map(
          (right: Right) => html`<label class="check">
            <input type="checkbox" name="right" value=${right} .checked=${draft.rights.includes(right)}
              @change=${(ev: Event) => this._set({ rights: toggled(draft.rights, right, (ev.target as HTMLInputElement).checked, RIGHTS) })} />
            ${this.t(rightKey(right))}
          </label>`,
        )}
      </fieldset>
      <fieldset class="windows">
        <legend>${this.t("windows")}</legend>
        <p class="hint">${this.t("windows_hint", { zone: this.zone })}</p>
        ${draft.windows.map((w, i) => this._renderWindow(w, i))}
        <button type="button" class="add-window" ?disabled=${draft.windows.length >= MAX_WINDOWS}
          @click=${() => this._set({ windows: [...draft.windows, newWindow()] })}>+ ${this.t("add_window")}</button>
      </fieldset>
      <label class="field">${this.t("lookback_hours")}
        <input class="lookback" type="text" inputmode="decimal" autocomplete="off" .value=${draft.lookback}
          aria-describedby="lookback-hint"
          @input=${(ev: Event) => this._set({ lookback: (ev.target as HTMLInputElement).value })} />
      </label>
      <p class="hint" id="lookback-hint">${this.t("lookback_hint")}</p>
      ${messages.length
        ? html`<ul class="errors error" role="alert" tabindex="-1">${messages.map((m) => html`<li>${m}</li>`)}</ul>`
        : nothing}
      <div class="row buttons">
        <button type="submit" class="primary save" ?disabled=${this._busy}>${this.t("save")}</button>
        <button type="button" class="cancel" @click=${() => this._cancel()}>${this.t("cancel")}</button>
      </div>
    </form>`;
  }

  private _renderWindow(w: AccessWindow, i: number): TemplateResult {
    const number = i + 1;
    return html`<fieldset class="window" data-window=${number}>
      <legend>${this.t("window", { number })}</legend>
      <div class="days" role="group" aria-label=${this.t("days")}>
        ${DAYS.map(
          (day: Day) => html`<label class="check">
            <input type="checkbox" name="day" value=${day} .checked=${w.days.includes(day)}
              @change=${(ev: Event) => this._setWindow(i, { days: toggled(w.days, day, (ev.target as HTMLInputElement).checked, DAYS) })} />
            ${this.t(dayKey(day))}
          </label>`,
        )}
      </div>
      <div class="row times">
        <label class="field">${this.t("from")}
          <input class="start" type="time" required .value=${w.start}
            @input=${(ev: Event) => this._setWindow(i, { start: (ev.target as HTMLInputElement).value })} />
        </label>
        <label class="field">${this.t("to")}
          <input class="end" type="time" required .value=${w.end}
            @input=${(ev: Event) => this._setWindow(i, { end: (ev.target as HTMLInputElement).value })} />
        </label>
        ${isOvernight(w) ? html`<span class="hint overnight">${this.t("window_overnight")}</span>` : nothing}
        <span class="spacer"></span>
        <button type="button" class="link remove-window" aria-label=${this.t("remove_window", { number })}
          @click=${() => this._set({ windows: this.draft.windows.filter((_, j) => j !== i) })}>${this.t("remove")}</button>
      </div>
    </fieldset>`;
  }

  static override styles = [
    sharedStyles,
    css`
      form { display: flex; flex-direction: column; gap: 6px; padding: 12px; border-top: 1px solid var(--divider-color, #e0e0e0); }
      h3 { font-size: 16px; font-weight: 500; margin: 0; }
      label.field { max-width: 320px; }
      .hint { font-size: 13px; margin: 2px 0 6px; }
      .days { display: flex; flex-wrap: wrap; }
      .times { padding: 4px 0 0; align-items: flex-end; }
      .errors { margin: 4px 0; padding-left: 20px; }
      .errors:focus { outline: none; }
    `,
  ];
}

declare global {
  interface HTMLElementTagNameMap {
    "cctv-grant-editor": CctvGrantEditor;
  }
}

if (!customElements.get("cctv-grant-editor")) customElements.define("cctv-grant-editor", CctvGrantEditor);
