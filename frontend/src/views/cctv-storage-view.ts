/** The storage tab: the recordings disk (used, free, footage) and each camera's footage, bitrate
 * and the days that fit. Loaded whenever the tab is chosen (the shell calls `refresh`). */
import { css, html, type TemplateResult } from "lit";
import { CctvElement } from "../common/cctv-element";
import { type StorageAnswer, fetchStorage } from "../data/storage";
import { sharedStyles } from "../styles";
import { formatBytes, localDate } from "../timeline";

export class CctvStorageView extends CctvElement {
  static override properties = {
    zone: {},
    _storage: { state: true },
  };

  zone = "UTC";
  private _storage: StorageAnswer | null = null;

  async refresh(): Promise<void> {
    try {
      this._storage = await fetchStorage(this.connection);
    } catch (err) {
      this.fail(err);
    }
  }

  protected override render(): TemplateResult {
    const s = this._storage;
    if (!s) return html`<p class="empty">…</p>`;
    const used = s.disk_total ? ((s.disk_used ?? 0) / s.disk_total) * 100 : 0;
    const footage = s.disk_total ? (s.footage_bytes / s.disk_total) * 100 : 0;
    const usage = this.t("disk_usage", {
      used: formatBytes(s.disk_used),
      total: formatBytes(s.disk_total),
      free: formatBytes(s.disk_free),
    });
    return html`<div class="card storage">
      <h2>${this.t("disk")}</h2>
      <div class="meter" role="img" aria-label=${usage}>
        <div class="used" style="width:${used}%"></div>
        <div class="footage" style="width:${footage}%"></div>
      </div>
      <p>${usage} · ${this.t("footage")}: ${formatBytes(s.footage_bytes)}</p>
      <table>
        <thead><tr><th>${this.t("camera")}</th><th>${this.t("size")}</th><th>${this.t("oldest")}</th><th>${this.t("bitrate")}</th><th>${this.t("days_fit")}</th></tr></thead>
        <tbody>
          ${s.cameras.map(
            (c) => html`<tr>
              <td>${c.name}</td>
              <td>${formatBytes(c.bytes)}</td>
              <td>${c.oldest ? localDate(c.oldest, this.zone) : "–"}</td>
              <td>${c.bitrate_kbps !== null ? `${Math.round(c.bitrate_kbps)} kbit/s` : "–"}</td>
              <td>${c.days_that_fit !== null ? c.days_that_fit.toFixed(1) : "–"}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>`;
  }

  static override styles = [
    sharedStyles,
    css`
      .meter { position: relative; height: 16px; border-radius: 8px; background: var(--secondary-background-color, #eee); overflow: hidden; margin: 8px 0; }
      .meter .used, .meter .footage { position: absolute; top: 0; bottom: 0; left: 0; }
      .meter .used { background: var(--disabled-text-color, #bbb); }
      .meter .footage { background: var(--primary-color, #03a9f4); }
      table { width: 100%; border-collapse: collapse; }
      th, td { text-align: left; padding: 6px; border-bottom: 1px solid var(--divider-color, #e0e0e0); }
      @media (max-width: 600px) {
        th:nth-child(4), td:nth-child(4) { display: none; }
      }
    `,
  ];
}

declare global {
  interface HTMLElementTagNameMap {
    "cctv-storage-view": CctvStorageView;
  }
}

if (!customElements.get("cctv-storage-view")) customElements.define("cctv-storage-view", CctvStorageView);
