// The wire's numbers: 64-bit columns read and written as pairs of 32-bit words (no BigInt per
// value: in the WebAssembly build JavaScript is interpreted, and BigInts cost an allocation
// each), and text spans of the arena.

/** Wire tag of a text attribute (`attr-kind`). */
export const KIND_TEXT = 0;
/** Wire tag of an integer (i64) attribute. */
export const KIND_INT = 1;
/** Wire tag of a float (f64) attribute. */
export const KIND_FLOAT = 2;
/** Wire tag of a boolean attribute. */
export const KIND_BOOL = 3;

/** Attribute kinds by wire tag, as `event.attrKind()` names them. */
export const KIND_NAMES = ['text', 'int', 'float', 'bool'];

const TWO_32 = 4294967296;

/** A Uint32Array over the same bytes as a BigUint64Array (word 2i low, 2i+1 high). */
export function words(u64) {
  return new Uint32Array(u64.buffer, u64.byteOffset, u64.length * 2);
}

/** An unsigned 64-bit value from its words: a number (exact below 2^53). */
export function u64Number(lo, hi) {
  return hi * TWO_32 + lo;
}

/** A signed 64-bit value from its words: a number when it is a safe integer, else a BigInt. */
export function i64Value(lo, hi) {
  const signedHi = hi | 0;
  const n = signedHi * TWO_32 + lo;
  if (Number.isSafeInteger(n)) return n;
  return (BigInt(signedHi) << 32n) | BigInt(lo);
}

/** The low word of a 64-bit integer (a safe-integer number, or a BigInt). */
export function lo32(v) {
  if (typeof v === 'bigint') return Number(BigInt.asUintN(32, v));
  return v - Math.floor(v / TWO_32) * TWO_32;
}

/** The high word of a 64-bit integer (a safe-integer number, or a BigInt), two's complement. */
export function hi32(v) {
  if (typeof v === 'bigint') return Number(BigInt.asUintN(64, v) >> 32n);
  return Math.floor(v / TWO_32) >>> 0;
}

const f64 = new Float64Array(1);
const f64Words = new Uint32Array(f64.buffer);

/** The f64 whose bits are these words. */
export function f64FromWords(lo, hi) {
  f64Words[0] = lo;
  f64Words[1] = hi;
  return f64[0];
}

/** The words of an f64's bits: `f64Bits[0]` low, `f64Bits[1]` high after `setF64(x)`. */
export const f64Bits = f64Words;

/** Puts the bits of `x` in `f64Bits`. */
export function setF64(x) {
  f64[0] = x;
}

/** A BigUint64Array of `n` values from 2n words. */
export function u64Column(wordList) {
  const w = Uint32Array.from(wordList);
  return new BigUint64Array(w.buffer, 0, w.length / 2);
}
