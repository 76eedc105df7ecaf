export { releaseTarget, StagingReleaser, type StagingReleaseMode, type StagingReleaserOptions } from './staging-releaser.ts'
