import { poolsCrashSuite } from "./pools-crash-suite.js";

poolsCrashSuite("sqlite");
