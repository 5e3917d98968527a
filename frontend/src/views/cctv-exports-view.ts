/** The exports tab: running export jobs, then every export with its download link (and, for
 * administrators, a delete button). The shell loads the list and polls while a job runs. */
import { css, html, nothing, type TemplateResult } from "lit";
import { CctvElement } from "../common/cctv-element";
import { fireEvent } from "../common/fire-event";
import type { Camera } from "../data/cameras";
import { type ExportItem, type ExportJob, deleteExport, isActive } from "../data/exports";
import { sharedStyles } from "../styles";
import { formatBytes, formatClock, formatDuration, localDate } from "../timeline";
import "../components/cctv-export-job";

export class CctvExportsView extends CctvElement {
  static override properties = {
    cameras: { attribute: false },
    exports: { attribute: false },
    jobs: { attribute: false },
    zone: {},
    admin: { type: Boolean },
  };

  cameras: Camera[] = [];
  exports: ExportItem[] = [];
  jobs: ExportJob[] = [];
  zone = "UTC";
  admin = false;

  private async _delete(item: ExportItem): Promise<void> {
    try {
      await deleteExport(this.connection, item.id);
      fireEvent(this, "cctv-exports-changed", undefined);
    } catch (err) {
      this.fail(err);
    }
  }

  protected override render(): TemplateResult {
    const names = new Map(this.cameras.map((c) => [c.id, c.name]));
    return html`<div class="card">
      ${this.jobs
        .filter(isActive)
        .map((job) => html`<cctv-export-job .hass=${this.hass} .job=${job} .exports=${this.exports}></cctv-export-job>`)}
      ${this.exports.length
        ? html`<ul class="exports">
            ${this.exports.map(
              (item) => html`<li>
                <span class="name">${item.name}</span>
                <span>${names.get(item.camera) ?? item.camera} · ${localDate(item.start, this.zone)} ${formatClock(item.start, this.zone)} · ${formatDuration(item.duration ?? item.end - item.start)} · ${formatBytes(item.bytes)}</span>
                <a class="download" href=${item.url} download="${item.name}.mp4">${this.t("download")}</a>
                ${this.admin
                  ? html`<button class="danger" aria-label="${this.t("delete_export")} ${item.name}" @click=${() => void this._delete(item)}>${this.t("delete_export")}</button>`
                  : nothing}
              </li>`,
            )}
          </ul>`
        : html`<p class="empty">${this.t("no_exports")}</p>`}
    </div>`;
  }

  static override styles = [
    sharedStyles,
    css`
      .exports { list-style: none; margin: 0; padding: 0; }
      .exports li { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; padding: 10px; border-bottom: 1px solid var(--divider-color, #e0e0e0); }
    `,
  ];
}

declare global {
  interface HTMLElementTagNameMap {
    "cctv-exports-view": CctvExportsView;
  }
}

if (!customElements.get("cctv-exports-view")) customElements.define("cctv-exports-view", CctvExportsView);
