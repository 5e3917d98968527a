/**
 * The styles every element of the panel shares (Home Assistant's theme variables, with
 * fallbacks): controls, forms, tables, cards, rows, badges, empty states. Each element adds its
 * own after these.
 */
import { css } from "lit";

export const sharedStyles = css`
  :host {
    display: block;
  }
  h2 { font-size: 18px; font-weight: 500; margin: 0; }
  button, select, input {
    font: inherit;
    color: var(--primary-text-color, #212121);
    background: var(--card-background-color, #fff);
    border: 1px solid var(--divider-color, #ccc);
    border-radius: 6px;
    padding: 6px 10px;
    min-height: 36px;
    cursor: pointer;
  }
  button:focus-visible, .timeline:focus-visible, a:focus-visible, input:focus-visible, select:focus-visible {
    outline: 2px solid var(--primary-color, #03a9f4);
    outline-offset: 2px;
  }
  button:disabled { opacity: 0.5; cursor: default; }
  button.primary { background: var(--primary-color, #03a9f4); color: var(--text-primary-color, #fff); border: none; }
  button.danger { color: var(--error-color, #db4437); border-color: var(--error-color, #db4437); }
  button.link { border: none; background: transparent; color: var(--primary-color, #03a9f4); padding: 4px; }
  .tile, .card, .camera, .big {
    background: var(--card-background-color, #fff);
    border-radius: var(--ha-card-border-radius, 12px);
    border: 1px solid var(--divider-color, #e0e0e0);
    overflow: hidden;
  }
  .tile-bar, .row { display: flex; align-items: center; gap: 8px; padding: 8px; flex-wrap: wrap; }
  .name { font-weight: 500; }
  .badge { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: var(--secondary-background-color, #eee); }
  .badge.ok { color: var(--success-color, #43a047); }
  .badge.bad { color: var(--error-color, #db4437); }
  .badge.rec { color: var(--error-color, #db4437); }
  .spacer { flex: 1; }
  .hint { color: var(--secondary-text-color, #666); }
  .download { color: var(--primary-color, #03a9f4); }
  .card { padding: 8px; }
  .empty { color: var(--secondary-text-color, #666); padding: 12px; }
  input[type="checkbox"] {
    min-height: 0; width: 18px; height: 18px; padding: 0; margin: 0;
    accent-color: var(--primary-color, #03a9f4);
  }
  label.check { display: inline-flex; align-items: center; gap: 6px; min-height: 36px; margin-right: 14px; cursor: pointer; }
  label.field { display: inline-flex; flex-direction: column; gap: 2px; font-size: 14px; color: var(--secondary-text-color, #666); }
  label.field > input, label.field > select { color: var(--primary-text-color, #212121); }
  fieldset { border: 1px solid var(--divider-color, #e0e0e0); border-radius: 6px; margin: 8px 0; padding: 6px 12px 10px; min-width: 0; }
  legend { padding: 0 4px; font-weight: 500; }
  .error { color: var(--error-color, #db4437); }
  .table-wrap { overflow-x: auto; }
  table.data { width: 100%; border-collapse: collapse; }
  table.data th, table.data td { text-align: left; vertical-align: top; padding: 6px; border-bottom: 1px solid var(--divider-color, #e0e0e0); }
  table.data th { font-weight: 500; color: var(--secondary-text-color, #666); }
  [hidden] { display: none !important; }
`;
