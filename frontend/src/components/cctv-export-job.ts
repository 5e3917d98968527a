/**
 * One export job: queued (with its place in the queue), running (with the time it has taken),
 * failed (with the reason) or done (with the download link of its export, once the list of
 * exports has it).
 */
import { css, html, nothing, type TemplateResult } from "lit";
import { CctvElement } from "../common/cctv-element";
import { type ExportItem, type ExportJob, jobStatus } from "../data/exports";
import { sharedStyles } from "../styles";
import { formatBytes, formatDuration } from "../timeline";

export class CctvExportJob extends CctvElement {
  static override properties = {
    job: { attribute: false },
    exports: { attribute: false },
  };

  job?: ExportJob;
  exports: ExportItem[] = [];

  protected override render(): TemplateResult | typeof nothing {
    const job = this.job;
    if (!job) return nothing;
    const { key, values } = jobStatus(job, Date.now() / 1000);
    if (key === "export_queued" || key === "exporting") {
      const text =
        key === "exporting" ? this.t(key, { elapsed: formatDuration(Number(values.elapsed)) }) : this.t(key, values);
      return html`<div class="job running ${job.status}" role="status">
        <progress aria-label=${this.t(key === "exporting" ? "export_running" : "export_waiting")}></progress>
        ${text}
      </div>`;
    }
    if (key === "export_failed") {
      return html`<div class="job failed" role="status">${this.t(key, values)}</div>`;
    }
    const item = this.exports.find((e) => e.id === job.export_id);
    return html`<div class="job done" role="status">
      ${this.t("export_done")}
      ${item ? html`<a class="download" href=${item.url} download="${item.name}.mp4">${this.t("download")} (${formatBytes(item.bytes)})</a>` : nothing}
    </div>`;
  }

  static override styles = [
    sharedStyles,
    css`
      .job { padding: 8px; display: flex; gap: 8px; align-items: center; }
      .job.failed { color: var(--error-color, #db4437); }
    `,
  ];
}

declare global {
  interface HTMLElementTagNameMap {
    "cctv-export-job": CctvExportJob;
  }
}

if (!customElements.get("cctv-export-job")) customElements.define("cctv-export-job", CctvExportJob);
