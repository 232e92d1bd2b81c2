/**
 * The admin console's replies: RowDescription, DataRows and CommandComplete in text format, as
 * PgDoorman and PgBouncer send them (text 25, int8 20, numeric 1700), so that scripts written for
 * either parse them unchanged.
 */
import { BackendType } from '../../protocol/message-types.js';
import { MessageWriter } from '../../protocol/wire.js';

export type ColumnType = 'text' | 'int' | 'numeric';
export type Cell = string | number | boolean | null;

export interface Column {
  name: string;
  type: ColumnType;
}

export interface ResultSet {
  columns: readonly Column[];
  rows: readonly (readonly Cell[])[];
  /** CommandComplete tag; `SHOW` for SHOW commands. */
  tag: string;
}

const TYPE_OID: Record<ColumnType, number> = { text: 25, int: 20, numeric: 1700 };

/** Columns from a compact spec: names, with `:int` or `:numeric` after those that are not text. */
export function columns(spec: string): Column[] {
  return spec.split(/\s+/).filter(Boolean).map((word) => {
    const [name, type = 'text'] = word.split(':');
    return { name, type: type as ColumnType };
  });
}

function cellText(cell: Cell): string | null {
  if (cell === null) return null;
  if (typeof cell === 'boolean') return cell ? 'true' : 'false';
  return String(cell);
}

export function commandComplete(tag: string): Buffer {
  return new MessageWriter(BackendType.CommandComplete, Buffer.byteLength(tag) + 1).cstring(tag, 'command tag').done();
}

function rowDescription(cols: readonly Column[]): Buffer {
  let length = 2;
  for (const c of cols) length += Buffer.byteLength(c.name) + 1 + 18;
  const w = new MessageWriter(BackendType.RowDescription, length).int16(cols.length);
  for (const c of cols) {
    const size = c.type === 'int' ? 8 : -1;
    w.cstring(c.name, 'column name').int32(0).int16(0).int32(TYPE_OID[c.type]).int16(size).int32(-1).int16(0);
  }
  return w.done();
}

function dataRow(row: readonly Cell[]): Buffer {
  const texts = row.map(cellText);
  let length = 2;
  for (const t of texts) length += 4 + (t === null ? 0 : Buffer.byteLength(t));
  const w = new MessageWriter(BackendType.DataRow, length).int16(texts.length);
  for (const t of texts) {
    if (t === null) w.int32(-1);
    else w.int32(Buffer.byteLength(t)).bytes(Buffer.from(t, 'utf8'));
  }
  return w.done();
}

/** The messages of one result (no ReadyForQuery). */
export function encodeResultSet(result: ResultSet): Buffer {
  const parts = [rowDescription(result.columns)];
  for (const row of result.rows) {
    if (row.length !== result.columns.length) throw new Error(`admin result: a row has ${row.length} cells for ${result.columns.length} columns`);
    parts.push(dataRow(row));
  }
  parts.push(commandComplete(result.tag));
  return Buffer.concat(parts);
}
