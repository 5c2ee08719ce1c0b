// The example hook in AssemblyScript, with the AssemblyScript SDK
// (sdk/assemblyscript). Same rules as the other examples (see
// examples/hooks/go/main.go):
//
//   - a client whose metadata says suspended: "true" is denied;
//   - its tier is metadata "tier" (absent, or longer than 62 bytes: "free");
//   - a gold client always gets read:users; any other loses delete:users;
//   - the token gets a "tier" claim, and the hook logs "tier=<tier>".
//
// Build (sdk/assemblyscript/README.md):
//
//   asc examples/hooks/assemblyscript/tier-gate.ts -o examples/hooks/assemblyscript/tier-gate.wasm \
//     -O3 --runtime minimal --exportStart _initialize --use abort=sdk/assemblyscript/assembly/index/abort
import { Api, Code, Event, Hook } from "../../../sdk/assemblyscript/assembly/index";
export { scopeline_abi_v1, scopeline_init, scopeline_run } from "../../../sdk/assemblyscript/assembly/index";

class TierGate extends Hook {
  handle(e: Event, a: Api): string | null {
    if (e.clientMetadata("suspended") == "true") {
      a.deny(Code.ACCESS_DENIED, "client is suspended");
      return null;
    }
    let tier = e.clientMetadata("tier");
    if (tier === null || String.UTF8.byteLength(tier) > 62) tier = "free";
    if (tier == "gold") {
      a.addScope("read:users", "gold clients always read users");
    } else if (e.hasScope("delete:users")) {
      a.removeScope("delete:users", "only gold clients may delete users");
    }
    a.setClaimString("tier", tier, "client tier");
    a.log("tier=" + tier);
    return null;
  }
}

Hook.register(new TierGate());
