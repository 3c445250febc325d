import { testExtension } from "./extension-contract.js";
import { makeHome } from "./helpers/home.js";

testExtension({
  name: "ext.local",
  make: async () => ({ home: makeHome(), request: { profile: "profile.local" } }),
});
