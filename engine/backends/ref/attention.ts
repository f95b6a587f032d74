/**
 * `ref` backend, attention family: fused attention forward (writing the log-sum-exp) and backward.
 */
import type { FamilyMethods } from "../../kernels.ts";
import { f, type RefContext } from "./util.ts";

/** The attention kernels of the ref backend. */
export function refAttention(_ctx: RefContext): FamilyMethods<"attention"> {
  return {
    attention(batch, seq, heads, hd, scale, q, k, v, ld, out, lse) {
      const Q = f(q), K = f(k), V = f(v), O = f(out), LSE = f(lse);
      const p = new Float64Array(seq);
      const od = heads * hd;
      for (let b = 0; b < batch; b++) {
        for (let h = 0; h < heads; h++) {
          for (let r = 0; r < seq; r++) {
            const qi = (b * seq + r) * ld + h * hd;
            let mx = -Infinity;
            for (let c = 0; c < seq; c++) {
              const ki = (b * seq + c) * ld + h * hd;
              let s = 0;
              for (let d = 0; d < hd; d++) s += Q[qi + d] * K[ki + d];
              p[c] = s * scale;
              if (p[c] > mx) mx = p[c];
            }
            let z = 0;
            for (let c = 0; c < seq; c++) z += p[c] = Math.exp(p[c] - mx);
            LSE[(b * heads + h) * seq + r] = mx + Math.log(z);
            for (let d = 0; d < hd; d++) {
              let acc = 0;
              for (let c = 0; c < seq; c++) acc += p[c] * V[(b * seq + c) * ld + h * hd + d];
              O[(b * seq + r) * od + h * hd + d] = acc / z;
            }
          }
        }
      }
    },
    attentionBackward(batch, seq, heads, hd, scale, q, k, v, ld, out, lse, dout, dq, dk, dv) {
      const Q = f(q), K = f(k), V = f(v), O = f(out), LSE = f(lse), DO = f(dout);
      const DQ = f(dq), DK = f(dk), DV = f(dv);
      const od = heads * hd;
      const P = new Float64Array(seq * seq), dS = new Float64Array(seq * seq);
      for (let b = 0; b < batch; b++) {
        for (let h = 0; h < heads; h++) {
          const qa = (r: number) => (b * seq + r) * ld + h * hd;
          const oa = (r: number) => (b * seq + r) * od + h * hd;
          for (let r = 0; r < seq; r++) {
            const l = LSE[(b * heads + h) * seq + r];
            let dd = 0; // D_r = dO_r · O_r
            for (let d = 0; d < hd; d++) dd += DO[oa(r) + d] * O[oa(r) + d];
            for (let c = 0; c < seq; c++) {
              let s = 0, dp = 0;
              for (let d = 0; d < hd; d++) {
                s += Q[qa(r) + d] * K[qa(c) + d];
                dp += DO[oa(r) + d] * V[qa(c) + d];
              }
              const pv = Math.exp(s * scale - l);
              P[r * seq + c] = pv;
              dS[r * seq + c] = pv * (dp - dd);
            }
          }
          for (let r = 0; r < seq; r++) {
            for (let d = 0; d < hd; d++) {
              let aq = 0, ak = 0, av = 0;
              for (let c = 0; c < seq; c++) {
                aq += dS[r * seq + c] * K[qa(c) + d];
                ak += dS[c * seq + r] * Q[qa(c) + d];
                av += P[c * seq + r] * DO[oa(c) + d];
              }
              DQ[qa(r) + d] = scale * aq;
              DK[qa(r) + d] = scale * ak;
              DV[qa(r) + d] = av;
            }
          }
        }
      }
    },
  };
}
