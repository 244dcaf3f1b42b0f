// The simulated Windows guests of the lab.
export { attachWindowsGuests, type AttachOptions, type GuestInfo, type WindowsGuests } from './attach.js';
export { GuestFaultSchema, GuestFaultListSchema, type GuestFault, type GuestFaultInput } from './faults.js';
export { writeLabInstallers } from './labInstallers.js';
export { GuestScenarioSchema, parseGuestScenario } from './scenario.js';
export { startStandaloneWindows, type StandaloneWindows } from './standalone.js';
