import { crashSuite } from "./core-crash-suite.js";

crashSuite("sqlite");
