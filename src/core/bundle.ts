/**
 * Build-time facts of the single executable (scripts/build-sea.mjs defines
 * __TSCONVERGE_BUNDLE__ when it bundles the CLI). Undefined when running from dist/ or src/.
 */
export interface BundleInfo {
  readonly version: string;
}

declare const __TSCONVERGE_BUNDLE__: BundleInfo | undefined;

export const BUNDLE: BundleInfo | undefined = typeof __TSCONVERGE_BUNDLE__ === 'undefined' ? undefined : __TSCONVERGE_BUNDLE__;
